package io.bighorn.dataplane.engine;

import io.bighorn.dataplane.replica.LayerBlocks;
import io.bighorn.dataplane.replica.Replica;
import io.bighorn.dataplane.replica.ReplicaEndpoint;
import io.bighorn.dataplane.replica.SnapshotInfo;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

/**
 * Copies the snapshots of a healthy replica into a WO replica, chunk by chunk, while the volume's I/O
 * goes on (new writes reach the target's head directly; the snapshots below are immutable during the
 * rebuild). For each 4 MiB chunk of each snapshot the target sends per-block digests; a chunk the target
 * has nothing of is read from the source whole, otherwise the source's digests pick the blocks that
 * differ, and only those travel, holes as holes. The blocks carry a checksum the target verifies before
 * writing. Restarting an interrupted rebuild therefore resends nothing the target already holds.
 *
 * <p>The target fetches the blocks from the source itself ({@link ReplicaEndpoint#pullLayer}), so the
 * data does not cross the engine; where it cannot (replicas in one process), the engine relays them.
 * Large chunks matter: at 1 MiB the copy ran at about 290 MB/s here, at 4 MiB about 340 MB/s.
 */
final class Rebuild {
    static final int CHUNK_BLOCKS = 1024;
    private static final long CHUNK = (long) CHUNK_BLOCKS * Replica.BLOCK;
    private static final int IN_FLIGHT = 4;
    private static final byte[] NO_DIGEST = new byte[16];

    private final Member target;
    private final String snapshot;
    /** For a catch-up: the regions to resync in {@link #snapshot}; null for a full rebuild. */
    private final BitSet regions;

    private final long regionSize;
    private final Supplier<Member> sources;
    private final List<SnapshotInfo> layers;
    private final long size;
    private final long epoch;
    private final long bandwidth;
    private final long timeoutMillis;
    private final Clock clock;
    private final long total;
    private final AtomicLong done = new AtomicLong();
    private final AtomicLong sent = new AtomicLong();
    private final AtomicLong digestBytes = new AtomicLong();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private volatile String source = null;
    private volatile String state = "running";
    private volatile boolean cancelled;
    /** Whether the target fetches blocks from the source itself (false once it says it cannot). */
    private volatile boolean pull = true;
    /** Fails every wait of the copy at once when the rebuild is cancelled. */
    private final CompletableFuture<Object> cancellation = new CompletableFuture<>();

    private final Instant started;
    private volatile Instant finished;

    /**
     * @param snapshot the system snapshot the rebuild started with
     * @param sources picks a RW replica to copy from (again after a source fails)
     * @param layers the snapshots to copy, as the source listed them
     * @param regions for a catch-up, the regions of {@code snapshot} to resync (in {@code regionSize}
     *     units); null to rebuild every snapshot whole
     * @param bandwidth bytes per second to stay under; 0 for no limit
     */
    Rebuild(
            Member target,
            String snapshot,
            Supplier<Member> sources,
            List<SnapshotInfo> layers,
            BitSet regions,
            long regionSize,
            long size,
            long epoch,
            long bandwidth,
            long timeoutMillis,
            Clock clock) {
        this.target = target;
        this.snapshot = snapshot;
        this.sources = sources;
        this.layers = regions == null
                ? List.copyOf(layers)
                : layers.stream().filter(l -> l.name().equals(snapshot)).toList();
        this.regions = regions;
        this.regionSize = regionSize;
        this.size = size;
        this.epoch = epoch;
        this.bandwidth = bandwidth;
        this.timeoutMillis = timeoutMillis;
        this.clock = clock;
        this.total = regions == null
                ? this.layers.stream().mapToLong(SnapshotInfo::allocatedBytes).sum()
                : Math.min(size, regions.cardinality() * regionSize);
        this.started = clock.instant();
    }

    Member target() {
        return target;
    }

    String snapshot() {
        return snapshot;
    }

    boolean running() {
        return state.equals("running");
    }

    void cancel() {
        cancelled = true;
        cancellation.completeExceptionally(new IOException("the rebuild was cancelled"));
    }

    /** Copies every chunk; throws on the first failure (the target's, or every source's). */
    void copy() throws IOException {
        Semaphore slots = new Semaphore(IN_FLIGHT);
        try {
            for (SnapshotInfo layer : layers) {
                for (long[] range : ranges()) {
                    for (long offset = range[0]; offset < range[1] && failure.get() == null; offset += CHUNK) {
                        if (cancelled) {
                            throw new IOException("the rebuild was cancelled");
                        }
                        long at = offset;
                        int blocks = (int) (Math.min(CHUNK, range[1] - offset) / Replica.BLOCK);
                        slots.acquire();
                        Thread.ofVirtual().name("rebuild-" + layer.name()).start(() -> {
                            try {
                                chunk(layer.name(), at, blocks);
                            } catch (Throwable e) {
                                failure.compareAndSet(null, e);
                            } finally {
                                slots.release();
                            }
                        });
                        throttle();
                    }
                }
            }
            slots.acquire(IN_FLIGHT);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("the rebuild was interrupted", e);
        }
        Throwable f = failure.get();
        if (f != null) {
            throw FanOut.asIo(f);
        }
    }

    /** The byte ranges to copy: the whole volume, or the catch-up's regions merged where they touch. */
    private List<long[]> ranges() {
        if (regions == null) {
            return List.of(new long[] {0, size});
        }
        List<long[]> ranges = new java.util.ArrayList<>();
        for (int a = regions.nextSetBit(0); a >= 0; ) {
            int b = regions.nextClearBit(a);
            long from = a * regionSize;
            long to = Math.min(size, b * regionSize);
            if (from < to) {
                ranges.add(new long[] {from, to});
            }
            a = regions.nextSetBit(b);
        }
        return ranges;
    }

    private void chunk(String layer, long offset, int blocks) throws IOException {
        ReplicaEndpoint to = target.endpoint;
        byte[] theirs = await(to.layerDigests(layer, offset, blocks), target);
        digestBytes.addAndGet(theirs.length);
        if (regions != null) {
            done.addAndGet((long) blocks * Replica.BLOCK);
        }
        for (int attempt = 0; ; attempt++) {
            Member from = sources.get();
            source = from.address();
            try {
                BitSet wanted = new BitSet(blocks);
                if (isEmpty(theirs)) {
                    wanted.set(0, blocks);
                    copy(from, layer, offset, blocks, wanted, regions == null);
                    return;
                }
                byte[] ours = await(from.endpoint.layerDigests(layer, offset, blocks), from);
                digestBytes.addAndGet(ours.length);
                for (int i = 0; i < blocks; i++) {
                    int at = i * NO_DIGEST.length;
                    if (!Arrays.equals(ours, at, at + 16, theirs, at, at + 16)) {
                        wanted.set(i);
                    }
                    if (regions == null && !Arrays.equals(ours, at, at + 16, NO_DIGEST, 0, 16)) {
                        done.addAndGet(Replica.BLOCK);
                    }
                }
                if (!wanted.isEmpty()) {
                    copy(from, layer, offset, blocks, wanted, false);
                }
                return;
            } catch (SourceFailed e) {
                if (attempt >= 3) {
                    throw new IOException("rebuild source " + from.address() + " failed: " + e.getMessage(), e);
                }
            }
        }
    }

    /**
     * Copies the {@code wanted} blocks of the chunk from {@code from} to the target: the target fetches
     * them itself where it can (the data skips the engine), else the engine relays them.
     */
    private void copy(Member from, String layer, long offset, int blocks, BitSet wanted, boolean countDone)
            throws IOException {
        if (pull) {
            try {
                long bytes = target.endpoint
                        .pullLayer(epoch, from.address(), layer, offset, blocks, wanted)
                        .get(timeoutMillis, TimeUnit.MILLISECONDS);
                sent.addAndGet(bytes);
                if (countDone) {
                    done.addAndGet(bytes);
                }
                return;
            } catch (ExecutionException e) {
                if (FanOut.unwrap(e) instanceof UnsupportedOperationException) {
                    pull = false; // replicas in one process: relay from now on
                }
                // otherwise the source or the target failed: the relay below tells which
            } catch (TimeoutException e) {
                // as above
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("the rebuild was interrupted", e);
            }
        }
        LayerBlocks in = await(from.endpoint.readLayer(layer, offset, blocks, wanted), from);
        if (countDone) {
            done.addAndGet(in.dataBytes());
        }
        if (!in.allocated().isEmpty()) {
            write(in);
        }
    }

    private void write(LayerBlocks in) throws IOException {
        await(target.endpoint.writeLayer(epoch, in), target);
        sent.addAndGet(in.dataBytes());
    }

    /** A failure of a source's call: the chunk may be retried from another. */
    private static final class SourceFailed extends IOException {
        SourceFailed(Throwable cause) {
            super(cause.getMessage(), cause);
        }
    }

    @SuppressWarnings("unchecked") // anyOf completes with f's value or fails with the cancellation
    private <T> T await(CompletableFuture<T> f, Member from) throws IOException {
        try {
            return (T) CompletableFuture.anyOf(f, cancellation).get(timeoutMillis, TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException e) {
            Throwable cause = e instanceof TimeoutException ? e : FanOut.unwrap(e);
            if (from != target) {
                throw new SourceFailed(cause);
            }
            throw new IOException("rebuild target " + target.address() + " failed: " + FanOut.describe(cause), cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("the rebuild was interrupted", e);
        }
    }

    private static boolean isEmpty(byte[] digests) {
        for (byte b : digests) {
            if (b != 0) {
                return false;
            }
        }
        return true;
    }

    /** Holds the copy to {@link #bandwidth} bytes per second, measured since the start. */
    private void throttle() throws InterruptedException {
        if (bandwidth <= 0) {
            return;
        }
        long dueMillis = sent.get() * 1000 / bandwidth;
        long elapsed = Duration.between(started, clock.instant()).toMillis();
        if (dueMillis > elapsed) {
            Thread.sleep(dueMillis - elapsed);
        }
    }

    void ended(String outcome, Throwable error) {
        if (error != null) {
            failure.compareAndSet(null, error);
        }
        finished = clock.instant();
        state = outcome;
    }

    RebuildStatus status() {
        Instant end = finished == null ? clock.instant() : finished;
        long millis = Math.max(1, Duration.between(started, end).toMillis());
        Throwable f = failure.get();
        return new RebuildStatus(
                target.address(),
                source,
                regions == null ? "full" : "catch-up",
                state,
                done.get(),
                total,
                sent.get(),
                digestBytes.get(),
                done.get() * 1000 / millis,
                bandwidth,
                f == null ? null : FanOut.describe(f),
                started,
                finished);
    }
}
