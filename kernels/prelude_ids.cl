/* prelude_ids: every work-item of a 3-D NDRange records its ids at its linear global index
 * (x fastest), 12 ints per item:
 *   GID(0..2), LID(0..2), GROUP_ID(0..2), LOCAL_SIZE(0..2)
 * Used by the host tests to prove the portability macros map each dimension to its own axis. */

#define PRELUDE_IDS_PER_ITEM 12

KERNEL void prelude_ids(GLOBAL int* out)
{
    const int linear = (GID(2) * GLOBAL_SIZE(1) + GID(1)) * GLOBAL_SIZE(0) + GID(0);
    GLOBAL int* o = out + linear * PRELUDE_IDS_PER_ITEM;
    o[0] = GID(0);
    o[1] = GID(1);
    o[2] = GID(2);
    o[3] = LID(0);
    o[4] = LID(1);
    o[5] = LID(2);
    o[6] = GROUP_ID(0);
    o[7] = GROUP_ID(1);
    o[8] = GROUP_ID(2);
    o[9] = LOCAL_SIZE(0);
    o[10] = LOCAL_SIZE(1);
    o[11] = LOCAL_SIZE(2);
}
