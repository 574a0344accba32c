package io.bighorn.backup;

import io.bighorn.dataplane.replica.LayerBlocks;
import io.bighorn.dataplane.replica.Replica;
import io.bighorn.dataplane.replica.ReplicaEndpoint;
import io.bighorn.dataplane.replica.SnapshotInfo;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.time.Instant;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A snapshot read from a replica, local or over the wire, layer by layer: for each range, the snapshot's
 * own layer first, then its ancestors for the 4 KiB blocks still missing, so each block comes from the
 * topmost layer that holds it, as a read of the snapshot would. Whether a range changed since an older
 * snapshot falls out of the same reads: it did if a layer above that snapshot holds any of its blocks. Only
 * immutable snapshot layers are read, so I/O to the volume goes on meanwhile.
 */
public final class ReplicaSnapshotSource implements SnapshotSource {
    private final ReplicaEndpoint replica;
    private final boolean ownsReplica;
    private final long size;
    private final SnapshotInfo snapshot;
    /** The snapshot and its ancestors, top down. */
    private final List<String> layers;
    /** Start and end of each range where some layer may hold data, sorted; null when not known. */
    private final long[] allocated;

    private ReplicaSnapshotSource(
            ReplicaEndpoint replica,
            boolean owns,
            long size,
            SnapshotInfo snapshot,
            List<String> layers,
            long[] allocated) {
        this.replica = replica;
        this.ownsReplica = owns;
        this.size = size;
        this.snapshot = snapshot;
        this.layers = List.copyOf(layers);
        this.allocated = allocated;
    }

    /** Reads {@code snapshot} of {@code replica}; closing the source closes the endpoint if {@code owns}. */
    public static ReplicaSnapshotSource open(ReplicaEndpoint replica, String snapshot, boolean owns)
            throws IOException {
        io.bighorn.dataplane.replica.ReplicaInfo info = Tasks.get(replica.info());
        long size = info.size();
        Map<String, SnapshotInfo> byName = new HashMap<>();
        for (SnapshotInfo s : Tasks.get(replica.snapshots())) {
            byName.put(s.name(), s);
        }
        SnapshotInfo snap = byName.get(snapshot);
        if (snap == null || snap.removed()) {
            throw new IllegalArgumentException(
                    "replica " + replica.address() + " has no snapshot named '" + snapshot + "'");
        }
        List<String> chain = new ArrayList<>();
        for (SnapshotInfo s = snap; s != null; s = s.parent() == null ? null : byName.get(s.parent())) {
            chain.add(s.name());
        }
        long[] allocated = info.chain().contains(snapshot) ? allocation(replica, size) : null;
        return new ReplicaSnapshotSource(replica, owns, size, snap, chain, allocated);
    }

    /**
     * Where the layers of the replica's chain hold data, from its in-memory index (one request per 64 GiB):
     * a range outside these holds nothing in the snapshot either when the snapshot is in the chain (what a
     * layer of the chain holds, the index shows, until a zeroing punches it; and zeroing punches only the
     * head and removed snapshots above every kept one). Ranges outside are skipped without reading.
     */
    private static long[] allocation(ReplicaEndpoint replica, long size) throws IOException {
        long step = 64L << 30;
        java.util.List<Long> bounds = new ArrayList<>();
        for (long at = 0; at < size; at += step) {
            for (io.bighorn.dataplane.blockdev.BlockDevice.Extent e :
                    Tasks.get(replica.extents(at, Math.min(step, size - at)))) {
                if (!e.allocated()) {
                    continue;
                }
                int n = bounds.size();
                if (n > 0 && bounds.get(n - 1) == e.offset()) {
                    bounds.set(n - 1, e.offset() + e.length());
                } else {
                    bounds.add(e.offset());
                    bounds.add(e.offset() + e.length());
                }
            }
        }
        return bounds.stream().mapToLong(Long::longValue).toArray();
    }

    @Override
    public boolean mayHoldData(long offset, long length) {
        return mayHoldDataIn(offset, Math.min(size, offset + length));
    }

    /** Whether {@code [from, to)} may hold data: it meets an allocated range, or allocation is unknown. */
    private boolean mayHoldDataIn(long from, long to) {
        if (allocated == null) {
            return true;
        }
        // the first range that ends after `from`
        int lo = 0;
        int hi = allocated.length / 2;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (allocated[2 * mid + 1] <= from) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo < allocated.length / 2 && allocated[2 * lo] < to;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public String snapshot() {
        return snapshot.name();
    }

    @Override
    public Instant snapshotCreated() {
        return snapshot.created();
    }

    @Override
    public boolean hasAncestor(String name) {
        return layers.indexOf(name) > 0;
    }

    @Override
    public Read read(long offset, byte[] dst, String since) throws IOException {
        long end = Math.min(size, offset + dst.length);
        if (!mayHoldDataIn(offset, end)) {
            java.util.Arrays.fill(dst, (byte) 0);
            return since == null ? Read.HOLE : Read.UNCHANGED;
        }
        long step = (long) LayerBlocks.MAX_BLOCKS * Replica.BLOCK;
        int parts = (int) Math.max(0, (end - offset + step - 1) / step);
        BitSet[] wanted = new BitSet[parts];
        for (int p = 0; p < parts; p++) {
            int blocks = blocks(offset + p * step, end);
            wanted[p] = new BitSet(blocks);
            wanted[p].set(0, blocks);
        }
        // Layers above `since` first (all of them when there is none): if none of them holds a block of the
        // range, it is unchanged, and the reads so far cost only allocation lookups.
        int split = since == null ? layers.size() : layers.indexOf(since);
        if (split < 0) {
            throw new IllegalArgumentException("snapshot " + since + " is not below " + snapshot.name());
        }
        boolean any = readLayers(0, split, offset, end, dst, wanted);
        if (!any && since != null) {
            return Read.UNCHANGED;
        }
        any |= readLayers(split, layers.size(), offset, end, dst, wanted);
        // blocks no layer holds read as zeros, as does anything past the end of the volume
        for (int p = 0; p < parts; p++) {
            int base = (int) (p * step);
            for (int a = wanted[p].nextSetBit(0); a >= 0; ) {
                int b = wanted[p].nextClearBit(a);
                java.util.Arrays.fill(dst, base + a * Replica.BLOCK, base + b * Replica.BLOCK, (byte) 0);
                a = wanted[p].nextSetBit(b);
            }
        }
        java.util.Arrays.fill(dst, (int) (end - offset), dst.length, (byte) 0);
        return any ? Read.DATA : Read.HOLE;
    }

    private static int blocks(long at, long end) {
        return (int) Math.min(LayerBlocks.MAX_BLOCKS, (end - at + Replica.BLOCK - 1) / Replica.BLOCK);
    }

    /** Reads layers {@code [from, to)} into the still wanted blocks; whether any held data. */
    private boolean readLayers(int from, int to, long offset, long end, byte[] dst, BitSet[] wanted)
            throws IOException {
        long step = (long) LayerBlocks.MAX_BLOCKS * Replica.BLOCK;
        MemorySegment out = MemorySegment.ofArray(dst);
        boolean any = false;
        for (int p = 0; p < wanted.length; p++) {
            long at = offset + p * step;
            int blocks = blocks(at, end);
            MemorySegment part = out.asSlice(at - offset, (long) blocks * Replica.BLOCK);
            for (int i = from; i < to && !wanted[p].isEmpty(); i++) {
                BitSet allocated = Tasks.get(replica.readLayerInto(layers.get(i), at, blocks, wanted[p], part));
                if (!allocated.isEmpty()) {
                    any = true;
                    wanted[p].andNot(allocated);
                }
            }
        }
        return any;
    }

    @Override
    public void close() {
        if (ownsReplica) {
            replica.close();
        }
    }
}
