/* vector.h: helpers for the explicit-vector (CPU device) kernel variants, on portability.h's floatv. */
#ifndef CONVVIZ_VECTOR_H
#define CONVVIZ_VECTOR_H

/* The first count (<= VLANES) floats at p, the other lanes zero. */
INLINE floatv vload_partial(GLOBAL const float* p, int count)
{
    if (count == VLANES) return VLOAD(p);
    float lanes[VLANES];
    for (int i = 0; i < VLANES; i++) lanes[i] = i < count ? p[i] : 0.0f;
    return VLOAD(lanes);
}

/* Stores the first count (<= VLANES) lanes of v at p. */
INLINE void vstore_partial(floatv v, GLOBAL float* p, int count)
{
    if (count == VLANES)
    {
        VSTORE(v, p);
        return;
    }
    float lanes[VLANES];
    VSTORE(v, lanes);
    for (int i = 0; i < count; i++) p[i] = lanes[i];
}

/* v's lanes summed. */
INLINE float vsum(floatv v)
{
    float lanes[VLANES];
    VSTORE(v, lanes);
    float sum = 0.0f;
    for (int i = 0; i < VLANES; i++) sum += lanes[i];
    return sum;
}

#endif /* CONVVIZ_VECTOR_H */
