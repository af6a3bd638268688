/* portability.h: lets one kernel text compile as OpenCL C (1.2) and as CUDA C.
 * The host prepends this text to every kernel source before compiling it.
 *
 *   KERNEL           kernel entry point            (__kernel / extern "C" __global__)
 *   GLOBAL           pointer into global memory    (__global / nothing)
 *   LOCAL            work-group shared memory      (__local / __shared__)
 *   CONSTANT         read-only constant memory     (__constant / __constant__)
 *   RESTRICT         no-alias pointer qualifier
 *   INLINE           device helper function
 *   BARRIER()        work-group barrier over local and global memory
 *   GID(d)           global id in dimension d       (0 = x, 1 = y, 2 = z)
 *   LID(d)           local id in dimension d
 *   GROUP_ID(d)      work-group id in dimension d
 *   LOCAL_SIZE(d)    work-group size in dimension d
 *   GLOBAL_SIZE(d)   NDRange size in dimension d
 *   NUM_GROUPS(d)    number of work-groups in dimension d
 *   UNROLL           unroll the next loop fully (its trip count must be a constant)
 * All id/size macros yield int.
 *
 * Explicit vectors, for the kernel variants written for CPU devices (PoCL), which vectorize
 * within a work-item rather than across work-items:
 *   floatv           VLANES (16) floats
 *   VZERO            a floatv of zeros
 *   VSPLAT(s)        a floatv with every lane s
 *   VLOAD(p)         load VLANES consecutive floats from p (global or private memory)
 *   VSTORE(v, p)     store them to p
 *   VFMA(s, v, acc)  acc + s * v for a scalar s, lane by lane
 *   VFMAV(a, b, acc) acc + a * b for vectors a and b, lane by lane
 *   VADD, VMUL, VDIV (a, b), VSCALE(s, v), VEXP(v), VLOG(v): lane-by-lane arithmetic
 */
#ifndef CONVVIZ_PORTABILITY_H
#define CONVVIZ_PORTABILITY_H

#ifdef __OPENCL_VERSION__

#define KERNEL __kernel
#define GLOBAL __global
#define LOCAL __local
#define CONSTANT __constant
#define RESTRICT restrict
#define INLINE inline
#define BARRIER() barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE)

#define GID(d) ((int)get_global_id(d))
#define LID(d) ((int)get_local_id(d))
#define GROUP_ID(d) ((int)get_group_id(d))
#define LOCAL_SIZE(d) ((int)get_local_size(d))
#define GLOBAL_SIZE(d) ((int)get_global_size(d))
#define NUM_GROUPS(d) ((int)get_num_groups(d))

#define UNROLL _Pragma("unroll")

#define VLANES 16
typedef float16 floatv;
#define VZERO ((floatv)(0.0f))
#define VSPLAT(s) ((floatv)(s))
#define VLOAD(p) vload16(0, (p))
#define VSTORE(v, p) vstore16((v), 0, (p))
#define VFMA(s, v, acc) fma((floatv)(s), (v), (acc))
#define VFMAV(a, b, acc) fma((a), (b), (acc))
#define VADD(a, b) ((a) + (b))
#define VMUL(a, b) ((a) * (b))
#define VDIV(a, b) ((a) / (b))
#define VSCALE(s, v) ((floatv)(s) * (v))
#define VEXP(v) exp(v)
#define VLOG(v) log(v)

#else /* CUDA C */

#define KERNEL extern "C" __global__
#define GLOBAL
#define LOCAL __shared__
#define CONSTANT __constant__
#define RESTRICT __restrict__
#define INLINE __device__ __forceinline__
#define BARRIER() __syncthreads()

/* Component d of a CUDA built-in vector: every dimension is compared on d itself and maps to its
 * own field (0 -> x, 1 -> y, 2 -> z); no case may test another variable (the CLBlast bug). */
#define CV_DIM_(v, d) ((d) == 0 ? (int)(v).x : (d) == 1 ? (int)(v).y : (int)(v).z)

#define LID(d) CV_DIM_(threadIdx, d)
#define GROUP_ID(d) CV_DIM_(blockIdx, d)
#define LOCAL_SIZE(d) CV_DIM_(blockDim, d)
#define NUM_GROUPS(d) CV_DIM_(gridDim, d)
#define GID(d) (GROUP_ID(d) * LOCAL_SIZE(d) + LID(d))
#define GLOBAL_SIZE(d) (NUM_GROUPS(d) * LOCAL_SIZE(d))

#define UNROLL _Pragma("unroll")

#define VLANES 16
typedef struct { float lane[VLANES]; } floatv;
INLINE floatv cv_vzero_() { floatv v; for (int i = 0; i < VLANES; i++) v.lane[i] = 0.0f; return v; }
INLINE floatv cv_vload_(const float* p) { floatv v; for (int i = 0; i < VLANES; i++) v.lane[i] = p[i]; return v; }
INLINE void cv_vstore_(floatv v, float* p) { for (int i = 0; i < VLANES; i++) p[i] = v.lane[i]; }
INLINE floatv cv_vfma_(float s, floatv v, floatv acc) { for (int i = 0; i < VLANES; i++) acc.lane[i] = fmaf(s, v.lane[i], acc.lane[i]); return acc; }
#define VZERO cv_vzero_()
INLINE floatv cv_vsplat_(float s) { floatv v; for (int i = 0; i < VLANES; i++) v.lane[i] = s; return v; }
#define VSPLAT(s) cv_vsplat_(s)
#define VLOAD(p) cv_vload_(p)
#define VSTORE(v, p) cv_vstore_((v), (p))
#define VFMA(s, v, acc) cv_vfma_((s), (v), (acc))
INLINE floatv cv_vfmav_(floatv a, floatv b, floatv acc) { for (int i = 0; i < VLANES; i++) acc.lane[i] = fmaf(a.lane[i], b.lane[i], acc.lane[i]); return acc; }
#define VFMAV(a, b, acc) cv_vfmav_((a), (b), (acc))
#define CV_LANEWISE_(name, expr) \
    INLINE floatv name(floatv a, floatv b) { floatv r; for (int i = 0; i < VLANES; i++) { float x = a.lane[i], y = b.lane[i]; r.lane[i] = (expr); } return r; }
CV_LANEWISE_(cv_vadd_, x + y)
CV_LANEWISE_(cv_vmul_, x * y)
CV_LANEWISE_(cv_vdiv_, x / y)
CV_LANEWISE_(cv_vexp_, expf(x) + 0.0f * y)
CV_LANEWISE_(cv_vlog_, logf(x) + 0.0f * y)
#define VADD(a, b) cv_vadd_((a), (b))
#define VMUL(a, b) cv_vmul_((a), (b))
#define VDIV(a, b) cv_vdiv_((a), (b))
#define VSCALE(s, v) cv_vfma_((s), (v), VZERO)
#define VEXP(v) cv_vexp_((v), (v))
#define VLOG(v) cv_vlog_((v), (v))

#endif

#endif /* CONVVIZ_PORTABILITY_H */
