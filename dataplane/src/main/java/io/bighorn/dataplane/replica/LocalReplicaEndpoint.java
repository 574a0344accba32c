package io.bighorn.dataplane.replica;

import io.bighorn.common.BufferPool;
import io.bighorn.dataplane.blockdev.BlockDevice;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.time.Instant;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;

/**
 * A replica in this process as a {@link ReplicaEndpoint}: each call runs on its own virtual thread (small
 * cached reads on the caller's, see {@link #read}).
 *
 * <p><b>Giving up on a call.</b> The engine gives up on a call that takes too long (its timeout
 * completes the future exceptionally) and closes an endpoint it fails, then reuses the buffers it
 * passed. The call itself may still be running, stuck in the disk. So closing never waits for running
 * calls (it fails their futures), and a call that fills a caller's buffer reads into a buffer of the
 * endpoint's own and copies it over only if nobody completed the future before ({@link IntoCaller}): a
 * late read can never land in a buffer that is in use again. A late write only reads the caller's buffer;
 * what it writes lands on a replica that is ERR by then, whose regions written meanwhile the engine
 * resyncs (the write-intent map) before it serves again.
 */
public final class LocalReplicaEndpoint implements ReplicaEndpoint {
    /** Reads up to this size may run on the caller's thread. */
    static final int INLINE_READ = 4 << 20;

    private final Replica replica;
    private final String address;
    private final boolean owns;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final BufferPool buffers = new BufferPool(8L << 20);
    private final Set<CompletableFuture<?>> pending = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

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

    /** Calls still running (tests wait on it). */
    int running() {
        return pending.size();
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
        return submit(new CompletableFuture<>(), call);
    }

    /** Runs {@code call} on a virtual thread and completes {@code f} with its outcome. */
    private <T, F extends CompletableFuture<T>> F submit(F f, Call<T> call) {
        if (closed) {
            f.completeExceptionally(new CompletionException(closedError()));
            return f;
        }
        pending.add(f);
        try {
            executor.execute(() -> {
                try {
                    f.complete(call.call());
                } catch (Exception e) {
                    f.completeExceptionally(new CompletionException(e));
                } finally {
                    pending.remove(f);
                }
            });
        } catch (RejectedExecutionException e) {
            pending.remove(f);
            f.completeExceptionally(new CompletionException(closedError()));
        }
        return f;
    }

    private IOException closedError() {
        return new IOException("replica " + address + ": endpoint closed");
    }

    /**
     * The future of a call that fills a caller's buffer: whichever comes first, the call delivering its
     * data or anyone else completing the future (a timeout, a cancel, {@link #close}), settles it, and
     * the other does nothing. The data is copied into the caller's buffer while settling, so once the
     * future is done the buffer is never written again.
     */
    private static final class IntoCaller<T> extends CompletableFuture<T> {
        private boolean settled;

        private synchronized boolean settle() {
            if (settled) {
                return false;
            }
            settled = true;
            return true;
        }

        @Override
        public boolean complete(T value) {
            return settle() && super.complete(value);
        }

        @Override
        public boolean completeExceptionally(Throwable ex) {
            return settle() && super.completeExceptionally(ex);
        }

        @Override
        public boolean cancel(boolean mayInterruptIfRunning) {
            return settle() && super.cancel(mayInterruptIfRunning);
        }

        /** Copies the data in and completes with {@code value}, unless the future is settled already. */
        void deliver(Runnable copy, T value) {
            synchronized (this) {
                if (settled) {
                    return;
                }
                settled = true;
                copy.run();
            }
            super.complete(value);
        }
    }

    /**
     * A call that fills a caller's buffer of {@code size} bytes: {@code fill} fills a buffer of ours, and
     * {@code copy} copies it into the caller's while the future settles; see {@link IntoCaller}.
     */
    private <T> CompletableFuture<T> into(long size, Fill<T> fill, Copy<T> copy) {
        IntoCaller<T> f = new IntoCaller<>();
        return submit(f, () -> {
            try (BufferPool.Lease lease = buffers.acquire(size)) {
                MemorySegment own = lease.segment();
                T value = fill.fill(own);
                f.deliver(() -> copy.copy(own, value), value);
                return value;
            }
        });
    }

    @FunctionalInterface
    private interface Fill<T> {
        T fill(MemorySegment own) throws Exception;
    }

    @FunctionalInterface
    private interface Copy<T> {
        void copy(MemorySegment own, T value);
    }

    /**
     * A read up to {@value #INLINE_READ} bytes that the page cache holds runs on the caller's thread, as a
     * file server's read would, without a thread switch; any other read, and every other call, runs on
     * a thread of its own, so a disk that stalls holds up only that call and the engine's timeout still
     * applies to it.
     */
    @Override
    public CompletableFuture<Void> read(long offset, MemorySegment dst) {
        if (dst.byteSize() <= INLINE_READ && !closed) {
            try {
                if (replica.readIfCached(offset, dst)) {
                    return CompletableFuture.completedFuture(null);
                }
            } catch (IOException | RuntimeException e) {
                return CompletableFuture.failedFuture(new CompletionException(e));
            }
        }
        return into(
                dst.byteSize(),
                own -> {
                    replica.read(offset, own);
                    return null;
                },
                (own, none) -> MemorySegment.copy(own, 0, dst, 0, dst.byteSize()));
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
        return into(
                dst.byteSize(),
                own -> replica.readLayerInto(layer, offset, blocks, wanted, own),
                (own, held) -> { // only the blocks read: the rest of dst stays untouched
                    for (int a = held.nextSetBit(0); a >= 0; ) {
                        int b = held.nextClearBit(a);
                        MemorySegment.copy(
                                own,
                                (long) a * Replica.BLOCK,
                                dst,
                                (long) a * Replica.BLOCK,
                                (long) (b - a) * Replica.BLOCK);
                        a = held.nextSetBit(b);
                    }
                });
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
        closed = true;
        executor.shutdown(); // no waiting: a call stuck in the disk must not hold up the engine
        for (CompletableFuture<?> f : pending) {
            f.completeExceptionally(new CompletionException(closedError()));
        }
        if (owns) {
            Replica.closeQuietly(replica);
        }
    }
}
