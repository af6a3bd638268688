/* tile.h: the register-blocked output tile shared by the tiled GEMM and the implicit-GEMM
 * convolutions.
 *
 * A TILE_THREADS_X x TILE_THREADS_Y work-group owns a TILE x TILE block of the output. Each step
 * stages a TILE_K-deep slice of both operands in local memory, as As[k][m] (left operand) and
 * Bs[k][n] (right operand), then every work-item accumulates a WPT x WPT register block at rows
 * LID(1) + TILE_THREADS_Y * i and columns LID(0) + TILE_THREADS_X * j. The strided block makes
 * neighbouring work-items read neighbouring local words and write neighbouring outputs. */
#ifndef CONVVIZ_TILE_H
#define CONVVIZ_TILE_H

#define TILE 64
#define TILE_K 16
#define WPT 4
#define TILE_THREADS_X (TILE / WPT)
#define TILE_THREADS_Y (TILE / WPT)
#define TILE_THREADS (TILE_THREADS_X * TILE_THREADS_Y)
/* Elements of one staged operand slice that each work-item loads: TILE * TILE_K / TILE_THREADS. */
#define TILE_LOADS (TILE * TILE_K / TILE_THREADS)

/* acc[i * WPT + j] += sum over k of As[k][ty + TILE_THREADS_Y i] * Bs[k][tx + TILE_THREADS_X j]. */
INLINE void tile_accumulate(LOCAL const float* As, LOCAL const float* Bs, float* acc, int tx, int ty)
{
    for (int k = 0; k < TILE_K; k++)
    {
        float a[WPT], b[WPT];
        for (int i = 0; i < WPT; i++) a[i] = As[k * TILE + ty + TILE_THREADS_Y * i];
        for (int j = 0; j < WPT; j++) b[j] = Bs[k * TILE + tx + TILE_THREADS_X * j];
        for (int i = 0; i < WPT; i++)
            for (int j = 0; j < WPT; j++)
                acc[i * WPT + j] += a[i] * b[j];
    }
}

#endif /* CONVVIZ_TILE_H */
