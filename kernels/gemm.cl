#include "tile.h"
#include "vector.h"

/* gemm.cl: Y = alpha * op(A) * op(B) + beta * C, batched over the third NDRange dimension (each
 * operand advanced by its batch stride), in three variants with one argument list:
 *   sgemm_tiled            local-memory tiles and register blocks (tile.h): the GPU kernel, any op(A), op(B);
 *   sgemm_vectorized       explicit vectors along N, for CPU devices, when B is not transposed;
 *   sgemm_nt_vectorized    explicit vectors along K (dot products), for CPU devices, when only B is.
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

/* Shared epilogue of the vectorized variants: y[m, n] = alpha * value + beta * C (when has_c). */
INLINE void gemm_store(int m, int n, float value, float alpha, int has_c, float beta,
                       GLOBAL const float* C, long c_base, int c_row_stride, int c_col_stride, GLOBAL float* Y, int ldy)
{
    float v = alpha * value;
    if (has_c) v += beta * C[c_base + (long)m * c_row_stride + (long)n * c_col_stride];
    Y[(long)m * ldy + n] = v;
}

/* Rows per work-item of sgemm_vectorized; its columns are one floatv. */
#define VGEMM_ROWS 8

/* Work-item (i, j, batch) computes rows [j VGEMM_ROWS, +VGEMM_ROWS) x columns [i VLANES, +VLANES):
 * per k, one vector of B's row k and a broadcast of op(A)[m, k] per row.
 * NDRange: (ceil(N / VLANES), ceil(M / VGEMM_ROWS), batch); any local size. */
KERNEL void sgemm_vectorized(int M, int N, int K, float alpha,
                             GLOBAL const float* A, int offset_a, int lda, int trans_a, int batch_stride_a,
                             GLOBAL const float* B, int offset_b, int ldb, int trans_b, int batch_stride_b,
                             int has_c, float beta, GLOBAL const float* C, int offset_c, int c_row_stride, int c_col_stride, int batch_stride_c,
                             GLOBAL float* Y, int offset_y, int ldy, int batch_stride_y)
{
    const int col0 = GID(0) * VLANES, row0 = GID(1) * VGEMM_ROWS, batch = GID(2);
    if (col0 >= N || row0 >= M) return;
    A += offset_a + (long)batch * batch_stride_a;
    B += offset_b + (long)batch * batch_stride_b + col0;
    Y += offset_y + (long)batch * batch_stride_y;
    const int cols = N - col0 < VLANES ? N - col0 : VLANES;

    /* Where row r's k-th element is: a_row[r] + k * a_step. Rows past M repeat the last row
     * (computed, never stored) so the unrolled loop needs no bounds checks. */
    const long a_step = trans_a ? lda : 1;
    long a_row[VGEMM_ROWS];
    floatv acc[VGEMM_ROWS];
    UNROLL for (int r = 0; r < VGEMM_ROWS; r++)
    {
        const int m = row0 + r < M ? row0 + r : M - 1;
        a_row[r] = trans_a ? m : (long)m * lda;
        acc[r] = VZERO;
    }
    for (int k = 0; k < K; k++)
    {
        GLOBAL const float* b_row = B + (long)k * ldb;
        const floatv b = cols == VLANES ? VLOAD(b_row) : vload_partial(b_row, cols);
        const long a_at = (long)k * a_step;
        UNROLL for (int r = 0; r < VGEMM_ROWS; r++) acc[r] = VFMA(A[a_row[r] + a_at], b, acc[r]);
    }

    const long c_base = offset_c + (long)batch * batch_stride_c;
    for (int r = 0; r < VGEMM_ROWS && row0 + r < M; r++)
    {
        float lanes[VLANES];
        VSTORE(acc[r], lanes);
        for (int j = 0; j < cols; j++)
            gemm_store(row0 + r, col0 + j, lanes[j], alpha, has_c, beta, C, c_base, c_row_stride, c_col_stride, Y, ldy);
    }
}

/* Rows and columns per work-item of sgemm_nt_vectorized. */
#define NT_ROWS 8
#define NT_COLS 2

/* Y = alpha A B^T + beta C with A (M, K) and B (N, K) both read along K: work-item (i, j, batch)
 * accumulates NT_ROWS x NT_COLS dot products VLANES terms at a time, then sums the lanes. Each
 * column's row of B (the weights, for a fully connected layer) is read once per NT_ROWS rows.
 * NDRange: (ceil(N / NT_COLS), ceil(M / NT_ROWS), batch); any local size. trans_a must be 0. */
KERNEL void sgemm_nt_vectorized(int M, int N, int K, float alpha,
                                GLOBAL const float* A, int offset_a, int lda, int trans_a, int batch_stride_a,
                                GLOBAL const float* B, int offset_b, int ldb, int trans_b, int batch_stride_b,
                                int has_c, float beta, GLOBAL const float* C, int offset_c, int c_row_stride, int c_col_stride, int batch_stride_c,
                                GLOBAL float* Y, int offset_y, int ldy, int batch_stride_y)
{
    const int col0 = GID(0) * NT_COLS, row0 = GID(1) * NT_ROWS, batch = GID(2);
    if (col0 >= N || row0 >= M) return;
    A += offset_a + (long)batch * batch_stride_a;
    B += offset_b + (long)batch * batch_stride_b;
    Y += offset_y + (long)batch * batch_stride_y;

    /* Rows past M and columns past N repeat the last one (computed, never stored). */
    GLOBAL const float* a_row[NT_ROWS];
    GLOBAL const float* b_row[NT_COLS];
    floatv acc[NT_ROWS * NT_COLS];
    UNROLL for (int r = 0; r < NT_ROWS; r++) a_row[r] = A + (long)(row0 + r < M ? row0 + r : M - 1) * lda;
    UNROLL for (int c = 0; c < NT_COLS; c++) b_row[c] = B + (long)(col0 + c < N ? col0 + c : N - 1) * ldb;
    UNROLL for (int i = 0; i < NT_ROWS * NT_COLS; i++) acc[i] = VZERO;

    int k = 0;
    for (; k + VLANES <= K; k += VLANES)
    {
        floatv b[NT_COLS];
        UNROLL for (int c = 0; c < NT_COLS; c++) b[c] = VLOAD(b_row[c] + k);
        UNROLL for (int r = 0; r < NT_ROWS; r++)
        {
            const floatv a = VLOAD(a_row[r] + k);
            UNROLL for (int c = 0; c < NT_COLS; c++) acc[r * NT_COLS + c] = VFMAV(a, b[c], acc[r * NT_COLS + c]);
        }
    }

    const long c_base = offset_c + (long)batch * batch_stride_c;
    for (int r = 0; r < NT_ROWS && row0 + r < M; r++)
        for (int c = 0; c < NT_COLS && col0 + c < N; c++)
        {
            float sum = vsum(acc[r * NT_COLS + c]);
            for (int t = k; t < K; t++) sum += a_row[r][t] * b_row[c][t];
            gemm_store(row0 + r, col0 + c, sum, alpha, has_c, beta, C, c_base, c_row_stride, c_col_stride, Y, ldy);
        }
}
