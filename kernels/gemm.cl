#include "tile.h"

/* gemm.cl: Y = alpha * op(A) * op(B) + beta * C, tiled (tile.h), batched over the third NDRange
 * dimension (one work-group layer per batch item, each operand advanced by its batch stride).
 *
 *   op(A) is (M, K): A[m * lda + k], or A[k * lda + m] when trans_a.
 *   op(B) is (K, N): B[k * ldb + n], or B[n * ldb + k] when trans_b.
 *   C is read at c_row_stride * m + c_col_stride * n (a zero stride broadcasts), only when has_c;
 *   C may be Y itself (each element is read and then written by the same work-item).
 * NDRange: (ceil(N / TILE) * TILE_THREADS_X, ceil(M / TILE) * TILE_THREADS_Y, batch), local
 * (TILE_THREADS_X, TILE_THREADS_Y, 1). */
KERNEL void sgemm_tiled(int M, int N, int K, float alpha,
                        GLOBAL const float* A, int offset_a, int lda, int trans_a, int batch_stride_a,
                        GLOBAL const float* B, int offset_b, int ldb, int trans_b, int batch_stride_b,
                        int has_c, float beta, GLOBAL const float* C, int offset_c, int c_row_stride, int c_col_stride, int batch_stride_c,
                        GLOBAL float* Y, int offset_y, int ldy, int batch_stride_y)
{
    LOCAL float As[TILE_K * TILE];
    LOCAL float Bs[TILE_K * TILE];
    const int tx = LID(0), ty = LID(1), tid = ty * TILE_THREADS_X + tx;
    const int row0 = GROUP_ID(1) * TILE, col0 = GROUP_ID(0) * TILE, batch = GROUP_ID(2);
    A += offset_a + (long)batch * batch_stride_a;
    B += offset_b + (long)batch * batch_stride_b;
    Y += offset_y + (long)batch * batch_stride_y;

    float acc[WPT * WPT];
    for (int i = 0; i < WPT * WPT; i++) acc[i] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += TILE_K)
    {
        for (int l = 0; l < TILE_LOADS; l++)
        {
            const int e = tid + TILE_THREADS * l;
            /* Consecutive work-items walk the operand's contiguous axis. */
            const int am = trans_a ? e % TILE : e / TILE_K, ak = trans_a ? e / TILE : e % TILE_K;
            const int gm = row0 + am, gk = k0 + ak;
            As[ak * TILE + am] = gm < M && gk < K ? A[trans_a ? (long)gk * lda + gm : (long)gm * lda + gk] : 0.0f;

            const int bn = trans_b ? e / TILE_K : e % TILE, bk = trans_b ? e % TILE_K : e / TILE;
            const int gn = col0 + bn, gkb = k0 + bk;
            Bs[bk * TILE + bn] = gn < N && gkb < K ? B[trans_b ? (long)gn * ldb + gkb : (long)gkb * ldb + gn] : 0.0f;
        }
        BARRIER();
        tile_accumulate(As, Bs, acc, tx, ty);
        BARRIER();
    }

    for (int i = 0; i < WPT; i++)
    {
        const int m = row0 + ty + TILE_THREADS_Y * i;
        if (m >= M) continue;
        for (int j = 0; j < WPT; j++)
        {
            const int n = col0 + tx + TILE_THREADS_X * j;
            if (n >= N) continue;
            float v = alpha * acc[i * WPT + j];
            if (has_c) v += beta * C[offset_c + (long)batch * batch_stride_c + (long)m * c_row_stride + (long)n * c_col_stride];
            Y[(long)m * ldy + n] = v;
        }
    }
}
