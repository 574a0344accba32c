package io.bighorn.dataplane.replica;

import io.bighorn.dataplane.blockdev.BlockDevice;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.time.Instant;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** A replica in this process as a {@link ReplicaEndpoint}: each call runs on its own virtual thread. */
public final class LocalReplicaEndpoint implements ReplicaEndpoint {
    /** Reads up to this size may run on the caller's thread. */
    static final int INLINE_READ = 128 << 10;

    private final Replica replica;
    private final String address;
    private final boolean owns;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();

    /** An endpoint that owns {@code replica}: closing it closes the replica. */
    public LocalReplicaEndpoint(Replica replica) {
        this(replica, "local:" + replica.directory(), true);
    }

    private LocalReplicaEndpoint(Replica replica, String address, boolean owns) {
        this.replica = replica;
        this.address = address;
        this.owns = owns;
    }

    /**
     * An endpoint on a replica that someone else keeps open and also serves at {@code address} (a node
     * agent's replica, reached by an engine in the same process): it answers to that address, so the
     * engine and the control plane know it as they know the replica over the network, and closing it
     * leaves the replica open. Once its owner closes the replica, every call fails with an
     * {@code IOException}, as a connection to a stopped server would.
     */
    public static LocalReplicaEndpoint borrowing(Replica replica, String address) {
        return new LocalReplicaEndpoint(replica, address, false);
    }

    public Replica replica() {
        return replica;
    }

    @Override
    public String address() {
        return address;
    }

    @FunctionalInterface
    private interface Call<T> {
        T call() throws Exception;
    }

    private <T> CompletableFuture<T> async(Call<T> call) {
        return CompletableFuture.supplyAsync(
                () -> {
                    try {
                        return call.call();
                    } catch (Exception e) {
                        throw new CompletionException(e);
                    }
                },
                executor);
    }

    /**
     * A read up to {@value #INLINE_READ} bytes that the page cache holds runs on the caller's thread, as a
     * file server's read would, without a thread switch; any other read, and every other call, runs on
     * a thread of its own, so a disk that stalls holds up only that call and the engine's timeout still
     * applies to it.
     */
    @Override
    public CompletableFuture<Void> read(long offset, MemorySegment dst) {
        if (dst.byteSize() <= INLINE_READ) {
            try {
                if (replica.readIfCached(offset, dst)) {
                    return CompletableFuture.completedFuture(null);
                }
            } catch (IOException | RuntimeException e) {
                return CompletableFuture.failedFuture(new CompletionException(e));
            }
        }
        return async(() -> {
            replica.read(offset, dst);
            return null;
        });
    }

    @Override
    public CompletableFuture<Void> write(long epoch, long offset, MemorySegment src) {
        return async(() -> {
            replica.write(epoch, offset, src);
            return null;
        });
    }

    @Override
    public CompletableFuture<Void> trim(long epoch, long offset, long length) {
        return async(() -> {
            replica.trim(epoch, offset, length);
            return null;
        });
    }

    @Override
    public CompletableFuture<Void> writeZeroes(long epoch, long offset, long length) {
        return async(() -> {
            replica.writeZeroes(epoch, offset, length);
            return null;
        });
    }

    @Override
    public CompletableFuture<Void> flush() {
        return async(() -> {
            replica.flush();
            return null;
        });
    }

    @Override
    public CompletableFuture<List<BlockDevice.Extent>> extents(long offset, long length) {
        return async(() -> replica.extents(offset, length));
    }

    @Override
    public CompletableFuture<ReplicaInfo> info() {
        return async(replica::info);
    }

    @Override
    public CompletableFuture<Void> acceptEpoch(long epoch) {
        return async(() -> {
            replica.acceptEpoch(epoch);
            return null;
        });
    }

    @Override
    public CompletableFuture<SnapshotInfo> snapshot(
            String name, boolean userCreated, Map<String, String> labels, Instant created) {
        return async(() -> replica.snapshot(name, userCreated, labels, created));
    }

    @Override
    public CompletableFuture<List<SnapshotInfo>> snapshots() {
        return async(replica::snapshots);
    }

    @Override
    public CompletableFuture<Void> deleteSnapshot(String name) {
        return async(() -> {
            replica.deleteSnapshot(name);
            return null;
        });
    }

    @Override
    public CompletableFuture<List<String>> purge() {
        return async(replica::purge);
    }

    @Override
    public CompletableFuture<Void> revert(String name) {
        return async(() -> {
            replica.revert(name);
            return null;
        });
    }

    @Override
    public CompletableFuture<Void> expand(long newSize) {
        return async(() -> {
            replica.expand(newSize);
            return null;
        });
    }

    @Override
    public CompletableFuture<Void> prepareRebuild(long epoch, List<SnapshotInfo> source, String headParent) {
        return async(() -> {
            replica.prepareRebuild(epoch, source, headParent);
            return null;
        });
    }

    @Override
    public CompletableFuture<byte[]> layerDigests(String layer, long offset, int blocks) {
        return async(() -> replica.layerDigests(layer, offset, blocks));
    }

    @Override
    public CompletableFuture<LayerBlocks> readLayer(String layer, long offset, int blocks, BitSet wanted) {
        return async(() -> replica.readLayer(layer, offset, blocks, wanted));
    }

    @Override
    public CompletableFuture<BitSet> readLayerInto(
            String layer, long offset, int blocks, BitSet wanted, java.lang.foreign.MemorySegment dst) {
        return async(() -> replica.readLayerInto(layer, offset, blocks, wanted, dst));
    }

    @Override
    public CompletableFuture<Void> writeLayer(long epoch, LayerBlocks blocks) {
        return async(() -> {
            replica.writeLayer(epoch, blocks);
            return null;
        });
    }

    @Override
    public CompletableFuture<long[]> takePartialBlocks() {
        return async(replica::takePartialBlocks);
    }

    @Override
    public CompletableFuture<Void> finishRebuild(long epoch, long revision) {
        return async(() -> {
            replica.finishRebuild(epoch, revision);
            return null;
        });
    }

    @Override
    public CompletableFuture<Void> putIntent(byte[] map) {
        return async(() -> {
            replica.putIntent(map);
            return null;
        });
    }

    @Override
    public CompletableFuture<byte[]> intent() {
        return async(replica::intent);
    }

    @Override
    public CompletableFuture<Void> syncLayers() {
        return async(() -> {
            replica.syncLayers();
            return null;
        });
    }

    @Override
    public void close() {
        executor.close();
        if (owns) {
            Replica.closeQuietly(replica);
        }
    }
}
