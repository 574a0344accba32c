package io.bighorn.dataplane.replica;

import java.util.Arrays;

/**
 * Read-write locks over 64 KiB regions of a volume, hashed onto a fixed set of stripes and always taken
 * in ascending stripe order, so two requests never deadlock. Whole-block writes share a region;
 * read-modify-write of a partial block, trim and write-zeroes hold theirs exclusively.
 */
final class StripedLocks {
    static final int REGION_SHIFT = 16;
    private static final int STRIPES = 4096;

    private final RwLock[] locks = new RwLock[STRIPES];

    StripedLocks() {
        for (int i = 0; i < STRIPES; i++) {
            locks[i] = new RwLock();
        }
    }

    /** What a request holds; closing releases it. */
    interface Held extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Locks the regions of {@code [offset, offset+length)}: exclusively those holding {@code exclusiveA} or
     * {@code exclusiveB} (byte offsets, or -1), or all of them when {@code allExclusive}.
     */
    Held lock(long offset, long length, long exclusiveA, long exclusiveB, boolean allExclusive) {
        long first = offset >>> REGION_SHIFT;
        long last = (offset + Math.max(length, 1) - 1) >>> REGION_SHIFT;
        if (first == last) {
            boolean exclusive = allExclusive || first == region(exclusiveA) || first == region(exclusiveB);
            RwLock rw = locks[(int) (first % STRIPES)];
            java.util.concurrent.locks.Lock lock = exclusive ? rw.writeLock() : rw.readLock();
            lock.lock();
            return lock::unlock;
        }
        int count = (int) Math.min(STRIPES, last - first + 1);
        // mode per stripe: 1 shared, 2 exclusive; stripes sorted ascending
        int[] stripes = new int[count];
        byte[] modes = new byte[STRIPES];
        int n = 0;
        for (long r = first; r <= last && n < STRIPES; r++) {
            int s = (int) (r % STRIPES);
            byte mode = allExclusive || r == region(exclusiveA) || r == region(exclusiveB) ? (byte) 2 : (byte) 1;
            if (modes[s] == 0) {
                stripes[n++] = s;
            }
            modes[s] = (byte) Math.max(modes[s], mode);
        }
        if (last - first + 1 > STRIPES) {
            // every stripe is covered; upgrade those an exclusive region maps to beyond the loop
            for (long r : new long[] {region(exclusiveA), region(exclusiveB)}) {
                if (r >= 0) {
                    modes[(int) (r % STRIPES)] = 2;
                }
            }
        }
        int[] order = Arrays.copyOf(stripes, n);
        Arrays.sort(order);
        for (int s : order) {
            if (modes[s] == 2) {
                locks[s].writeLock().lock();
            } else {
                locks[s].readLock().lock();
            }
        }
        return () -> {
            for (int i = order.length - 1; i >= 0; i--) {
                int s = order[i];
                if (modes[s] == 2) {
                    locks[s].writeLock().unlock();
                } else {
                    locks[s].readLock().unlock();
                }
            }
        };
    }

    private static long region(long byteOffset) {
        return byteOffset < 0 ? -1 : byteOffset >>> REGION_SHIFT;
    }
}
