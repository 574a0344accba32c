package io.bighorn.dataplane.engine;

import io.bighorn.dataplane.blockdev.BlockDevice;
import io.bighorn.dataplane.replica.LayerBlocks;
import io.bighorn.dataplane.replica.LocalReplicaEndpoint;
import io.bighorn.dataplane.replica.ReplicaEndpoint;
import io.bighorn.dataplane.replica.ReplicaInfo;
import io.bighorn.dataplane.replica.SnapshotInfo;
import java.lang.foreign.MemorySegment;
import java.time.Instant;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * A real local replica endpoint with injectable faults for the engine's unit tests: data calls can fail
 * with a given exception or never answer. Control calls ({@code info}, {@code acceptEpoch}) pass through.
 */
final class FaultyEndpoint implements ReplicaEndpoint {
    private final LocalReplicaEndpoint delegate;
    private volatile Throwable failure;
    private volatile boolean hang;
    volatile boolean closed;
    final java.util.concurrent.atomic.AtomicInteger calls = new java.util.concurrent.atomic.AtomicInteger();

    FaultyEndpoint(LocalReplicaEndpoint delegate) {
        this.delegate = delegate;
    }

    void failWith(Throwable t) {
        failure = t;
    }

    void hang() {
        hang = true;
    }

    /** Rebuild writes into this replica's snapshots wait for this future (completed: no wait). */
    volatile CompletableFuture<Void> layerWrites = CompletableFuture.completedFuture(null);

    /** Rebuild writes let through before the rest hang, as if the target stalled midway. */
    final java.util.concurrent.atomic.AtomicInteger layerWritesLeft =
            new java.util.concurrent.atomic.AtomicInteger(Integer.MAX_VALUE);

    private <T> CompletableFuture<T> faulty(Supplier<CompletableFuture<T>> call) {
        calls.incrementAndGet();
        if (hang) {
            return new CompletableFuture<>();
        }
        Throwable t = failure;
        return t != null ? CompletableFuture.failedFuture(t) : call.get();
    }

    @Override
    public String address() {
        return delegate.address();
    }

    @Override
    public CompletableFuture<Void> read(long offset, MemorySegment dst) {
        return faulty(() -> delegate.read(offset, dst));
    }

    @Override
    public CompletableFuture<Void> write(long epoch, long offset, MemorySegment src) {
        return faulty(() -> delegate.write(epoch, offset, src));
    }

    @Override
    public CompletableFuture<Void> trim(long epoch, long offset, long length) {
        return faulty(() -> delegate.trim(epoch, offset, length));
    }

    @Override
    public CompletableFuture<Void> writeZeroes(long epoch, long offset, long length) {
        return faulty(() -> delegate.writeZeroes(epoch, offset, length));
    }

    @Override
    public CompletableFuture<Void> flush() {
        return faulty(delegate::flush);
    }

    @Override
    public CompletableFuture<List<BlockDevice.Extent>> extents(long offset, long length) {
        return faulty(() -> delegate.extents(offset, length));
    }

    @Override
    public CompletableFuture<ReplicaInfo> info() {
        return delegate.info();
    }

    @Override
    public CompletableFuture<Void> acceptEpoch(long epoch) {
        return delegate.acceptEpoch(epoch);
    }

    @Override
    public CompletableFuture<SnapshotInfo> snapshot(
            String name, boolean userCreated, Map<String, String> labels, Instant created) {
        return faulty(() -> delegate.snapshot(name, userCreated, labels, created));
    }

    @Override
    public CompletableFuture<List<SnapshotInfo>> snapshots() {
        return faulty(delegate::snapshots);
    }

    @Override
    public CompletableFuture<Void> deleteSnapshot(String name) {
        return faulty(() -> delegate.deleteSnapshot(name));
    }

    @Override
    public CompletableFuture<List<String>> purge() {
        return faulty(delegate::purge);
    }

    @Override
    public CompletableFuture<Void> revert(String name) {
        return faulty(() -> delegate.revert(name));
    }

    @Override
    public CompletableFuture<Void> expand(long newSize) {
        return faulty(() -> delegate.expand(newSize));
    }

    @Override
    public CompletableFuture<Void> prepareRebuild(long epoch, List<SnapshotInfo> source, String headParent) {
        return faulty(() -> delegate.prepareRebuild(epoch, source, headParent));
    }

    @Override
    public CompletableFuture<byte[]> layerDigests(String layer, long offset, int blocks) {
        return faulty(() -> delegate.layerDigests(layer, offset, blocks));
    }

    @Override
    public CompletableFuture<LayerBlocks> readLayer(String layer, long offset, int blocks, BitSet wanted) {
        return faulty(() -> delegate.readLayer(layer, offset, blocks, wanted));
    }

    @Override
    public CompletableFuture<Void> writeLayer(long epoch, LayerBlocks blocks) {
        if (layerWritesLeft.getAndDecrement() <= 0) {
            return new CompletableFuture<>();
        }
        return faulty(() -> layerWrites.thenCompose(v -> delegate.writeLayer(epoch, blocks)));
    }

    @Override
    public CompletableFuture<long[]> takePartialBlocks() {
        return faulty(() -> delegate.takePartialBlocks());
    }

    @Override
    public CompletableFuture<Void> finishRebuild(long epoch, long revision) {
        return faulty(() -> delegate.finishRebuild(epoch, revision));
    }

    @Override
    public CompletableFuture<Void> putIntent(byte[] map) {
        return faulty(() -> delegate.putIntent(map));
    }

    @Override
    public CompletableFuture<byte[]> intent() {
        return delegate.intent(); // read at start, like info: not one of the calls a test counts
    }

    @Override
    public CompletableFuture<Void> syncLayers() {
        return faulty(() -> delegate.syncLayers());
    }

    /** Marks the endpoint closed; the replica itself is closed by the test. */
    @Override
    public void close() {
        closed = true;
    }
}
