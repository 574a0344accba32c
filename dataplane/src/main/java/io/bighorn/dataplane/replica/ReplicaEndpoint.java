package io.bighorn.dataplane.replica;

import io.bighorn.dataplane.blockdev.BlockDevice;
import java.lang.foreign.MemorySegment;
import java.time.Instant;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * A replica as an engine drives it: every call is asynchronous, so an engine fans one request out to all
 * replicas at once. Implemented over the network by the wire client and in-process by
 * {@link LocalReplicaEndpoint}. A future fails with the replica's own exception types
 * ({@code OutOfRangeException}, {@code NoSpaceException}, {@link StaleEpochException},
 * {@link SnapshotException}) or an {@code IOException} when the replica or the transport fails.
 *
 * <p>Buffers passed to {@link #read} and {@link #write} must stay untouched until the future completes.
 */
public interface ReplicaEndpoint extends AutoCloseable {
    /** Where the replica is, e.g. {@code tcp://127.0.0.1:9502} or {@code local:/data/r1}. */
    String address();

    CompletableFuture<Void> read(long offset, MemorySegment dst);

    CompletableFuture<Void> write(long epoch, long offset, MemorySegment src);

    CompletableFuture<Void> trim(long epoch, long offset, long length);

    CompletableFuture<Void> writeZeroes(long epoch, long offset, long length);

    /** Durable when complete, with the revision counter. */
    CompletableFuture<Void> flush();

    CompletableFuture<List<BlockDevice.Extent>> extents(long offset, long length);

    /** Size, epoch, revision, chain and layers. */
    CompletableFuture<ReplicaInfo> info();

    CompletableFuture<Void> acceptEpoch(long epoch);

    CompletableFuture<SnapshotInfo> snapshot(
            String name, boolean userCreated, Map<String, String> labels, Instant created);

    CompletableFuture<List<SnapshotInfo>> snapshots();

    CompletableFuture<Void> deleteSnapshot(String name);

    /** The names of the snapshots that are gone. */
    CompletableFuture<List<String>> purge();

    CompletableFuture<Void> revert(String name);

    CompletableFuture<Void> expand(long newSize);

    /** Stores the engine's write-intent map on the replica, durably. */
    CompletableFuture<Void> putIntent(byte[] map);

    /** The write-intent map last stored, or no bytes. */
    CompletableFuture<byte[]> intent();

    // ---- rebuild: see Replica#prepareRebuild and the engine's Rebuild ----

    /** Makes this replica a rebuild target with the source's snapshot tree; its head starts empty. */
    CompletableFuture<Void> prepareRebuild(long epoch, List<SnapshotInfo> source, String headParent);

    /** Per-block digests of snapshot {@code layer}: 16 bytes a block, zeros for a hole. */
    CompletableFuture<byte[]> layerDigests(String layer, long offset, int blocks);

    /** The {@code wanted} blocks of snapshot {@code layer}: which hold data, and the data. */
    CompletableFuture<LayerBlocks> readLayer(String layer, long offset, int blocks, BitSet wanted);

    /**
     * {@link #readLayer} into {@code dst} (block {@code i} of the range at {@code i} × 4 KiB): which of the
     * {@code wanted} blocks the layer holds, their data written to {@code dst}, the rest of it untouched. A
     * local replica reads straight into {@code dst}; this default copies from {@link #readLayer}'s answer.
     */
    default CompletableFuture<BitSet> readLayerInto(
            String layer, long offset, int blocks, BitSet wanted, java.lang.foreign.MemorySegment dst) {
        return readLayer(layer, offset, blocks, wanted).thenApply(got -> {
            BitSet allocated = got.allocated();
            java.lang.foreign.MemorySegment data = got.data();
            long taken = 0;
            for (int a = allocated.nextSetBit(0); a >= 0; ) {
                int b = allocated.nextClearBit(a);
                long n = (long) (b - a) * Replica.BLOCK;
                java.lang.foreign.MemorySegment.copy(data, taken, dst, (long) a * Replica.BLOCK, n);
                taken += n;
                a = allocated.nextSetBit(b);
            }
            return allocated;
        });
    }

    /** Writes a rebuild source's blocks into this (rebuilding) replica's snapshot. */
    CompletableFuture<Void> writeLayer(long epoch, LayerBlocks blocks);

    /**
     * Has this (rebuilding) replica fetch the {@code wanted} blocks of snapshot {@code layer} straight from
     * the replica at {@code source} and write them, so the data does not pass through the engine. Returns
     * the data bytes written. Fails with {@link UnsupportedOperationException} where replicas cannot reach
     * each other (in-process replicas): the engine then relays the blocks itself.
     */
    default CompletableFuture<Long> pullLayer(
            long epoch, String source, String layer, long offset, int blocks, BitSet wanted) {
        return CompletableFuture.failedFuture(
                new UnsupportedOperationException(address() + " cannot fetch from other replicas"));
    }

    /** The blocks that took partial writes while rebuilding; each is returned once. */
    CompletableFuture<long[]> takePartialBlocks();

    /** Makes every layer durable, I/O going on (before {@link #finishRebuild}, which then has little to sync). */
    CompletableFuture<Void> syncLayers();

    /** Ends the rebuild: layers durable, the rebuilding mark cleared, {@code revision} taken. */
    CompletableFuture<Void> finishRebuild(long epoch, long revision);

    /** Releases the connection (or, for a local endpoint, closes the replica). */
    @Override
    void close();
}
