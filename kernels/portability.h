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
 * All id/size macros yield int.
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

#endif

#endif /* CONVVIZ_PORTABILITY_H */
