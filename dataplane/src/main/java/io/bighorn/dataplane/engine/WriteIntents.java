package io.bighorn.dataplane.engine;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * The write-intent map: for each replica that missed writes (ERR, or failed while they were sent), the
 * regions of the volume written since. When that replica comes back with its data intact only those
 * regions are compared and resynced. Regions are coarse ({@link #regionSize}, at least 64 KiB and at most
 * 2^20 of them per volume) so the map stays small; the resync compares blocks inside a region and sends
 * only those that differ.
 *
 * <p>The engine keeps the map on its healthy replicas: before every flush completes, and soon after any
 * region is newly marked. So every write acknowledged before a flush is in the map on disk.
 */
final class WriteIntents {
    static final long MIN_REGION = 64 << 10;
    private static final int MAX_REGIONS = 1 << 20;
    private static final ObjectMapper JSON =
            new ObjectMapper().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    private final long regionSize;
    private final Map<String, BitSet> missed = new LinkedHashMap<>();
    /** Bumped by every new mark; {@link #persisted} says which version is on disk. */
    private long version;

    private long persisted;

    /** The stored form: the region size and each replica's regions as a {@link BitSet}'s words. */
    record Stored(long regionSize, Map<String, long[]> replicas) {}

    WriteIntents(long volumeSize) {
        this.regionSize = regionSizeFor(volumeSize);
    }

    static long regionSizeFor(long volumeSize) {
        long size = MIN_REGION;
        while (volumeSize / size > MAX_REGIONS) {
            size <<= 1;
        }
        return size;
    }

    long regionSize() {
        return regionSize;
    }

    /**
     * Starts tracking {@code replica}, which has just stopped receiving writes. Only a tracked replica's
     * regions are complete; one that was already behind when this engine started is not tracked.
     *
     * @return whether the map changed
     */
    synchronized boolean track(String replica) {
        if (missed.containsKey(replica)) {
            return false;
        }
        missed.put(replica, new BitSet());
        version++;
        return true;
    }

    /**
     * Records that {@code replica}, if tracked, missed a write of the range.
     *
     * @return whether the map changed
     */
    synchronized boolean mark(String replica, long offset, long length) {
        BitSet regions = missed.get(replica);
        if (regions == null || length <= 0) {
            return false;
        }
        int from = (int) (offset / regionSize);
        int to = (int) ((offset + length + regionSize - 1) / regionSize);
        if (regions.nextClearBit(from) >= to) {
            return false;
        }
        regions.set(from, to);
        version++;
        return true;
    }

    synchronized boolean has(String replica) {
        return missed.containsKey(replica);
    }

    /** A copy of the regions {@code replica} missed (empty if none). */
    synchronized BitSet regions(String replica) {
        BitSet b = missed.get(replica);
        return b == null ? new BitSet() : (BitSet) b.clone();
    }

    /** Forgets {@code replica}: it is whole again. */
    synchronized void forget(String replica) {
        if (missed.remove(replica) != null) {
            version++;
        }
    }

    /** Whether the map changed since the last {@link #persisted(long)}. */
    synchronized boolean dirty() {
        return version != persisted;
    }

    synchronized long version() {
        return version;
    }

    synchronized void persisted(long v) {
        persisted = Math.max(persisted, v);
    }

    synchronized byte[] encode() throws IOException {
        Map<String, long[]> out = new TreeMap<>();
        missed.forEach((a, b) -> out.put(a, b.toLongArray()));
        return JSON.writeValueAsBytes(new Stored(regionSize, out));
    }

    /**
     * Adds a stored map (from one replica) to this one. A map of another region size is widened or
     * narrowed to this one's, covering at least what it covered.
     */
    synchronized void merge(byte[] stored) throws IOException {
        if (stored.length == 0) {
            return;
        }
        Stored s = JSON.readValue(stored, Stored.class);
        if (s.regionSize() <= 0 || s.replicas() == null) {
            throw new IOException("unreadable write-intent map");
        }
        s.replicas().forEach((replica, words) -> {
            track(replica);
            BitSet b = BitSet.valueOf(words);
            for (int i = b.nextSetBit(0); i >= 0; i = b.nextSetBit(i + 1)) {
                mark(replica, i * s.regionSize(), s.regionSize());
            }
        });
        persisted = version;
    }
}
