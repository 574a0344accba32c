package io.bighorn.dataplane.engine;

import io.bighorn.common.Names;
import io.bighorn.common.Plug;
import io.bighorn.dataplane.blockdev.BlockDevice;
import io.bighorn.dataplane.blockdev.NoSpaceException;
import io.bighorn.dataplane.blockdev.OutOfRangeException;
import io.bighorn.dataplane.replica.Replica;
import io.bighorn.dataplane.replica.ReplicaConnector;
import io.bighorn.dataplane.replica.ReplicaEndpoint;
import io.bighorn.dataplane.replica.ReplicaInfo;
import io.bighorn.dataplane.replica.SnapshotInfo;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.StampedLock;
import java.util.function.IntSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engine of one volume: a {@link BlockDevice} that writes every request to all of its replicas and
 * reads from one.
 *
 * <p><b>Writes</b> (and trims, write-zeroes, flushes) go to every replica not in ERR, in parallel, and
 * return when all have answered. A replica that fails, answers with a stale-epoch refusal, or does not
 * answer within the engine-replica timeout becomes ERR: it is closed and gets no more I/O. The request
 * succeeds while at least one RW replica did it; with none left it fails. When every RW replica failed
 * only because its disk is full, none is failed: the caller gets {@link NoSpaceException} and the
 * volume writes again once space is freed.
 *
 * <p><b>Reads</b> go to the RW replica with the fewest requests outstanding, and on error to the next.
 *
 * <p><b>Epoch</b>: at start the engine takes one more than the highest epoch any replica has accepted
 * and makes every replica persist it; replicas refuse lower epochs from then on, so an engine started
 * earlier on the same replicas can never write again. Replicas whose revision counter is behind the
 * best, or whose chain or size differs from it, start in ERR.
 *
 * <p><b>Chain operations</b> run one at a time. Snapshot, revert and expand first drain in-flight I/O
 * (the write side of {@code gate}; every I/O holds its read side for its whole fan-out), so every
 * replica snapshots the same data, under the same name and time. Revert is refused while frontend
 * clients are connected.
 *
 * <p>Closing a failed replica's endpoint before returning guarantees that a late reply never touches
 * a buffer the caller has been handed back.
 */
public final class Engine implements BlockDevice {
    private static final Logger log = LoggerFactory.getLogger(Engine.class);
    /** How long a replica may take to make gigabytes of rebuilt layers durable. */
    private static final long SYNC_MILLIS = TimeUnit.MINUTES.toMillis(10);

    private final String volume;
    private final FanOut fanOut;
    private final IoCounters counters = new IoCounters();
    /** One platform thread that sends the flush of FUA writes. */
    private final ExecutorService followUps;
    /** Regions written while a replica was not; see {@link WriteIntents}. */
    private final WriteIntents intents;

    private final java.util.concurrent.atomic.AtomicBoolean intentsQueued =
            new java.util.concurrent.atomic.AtomicBoolean();

    private final long epoch;
    private final Clock clock;
    private final StampedLock gate = new StampedLock();
    private final Lock io = gate.asReadLock();
    private final Lock drain = gate.asWriteLock();
    private final ReentrantLock opLock = new ReentrantLock();
    private volatile long size;
    private volatile IntSupplier frontendClients = () -> 0;
    private volatile boolean closed;
    /** The current or last rebuild; changed under {@link #opLock}. */
    private volatile Rebuild rebuild;
    /** Which replicas serve and why, as decided at start or by the last salvage. */
    private volatile String decision = "";

    private Engine(String volume, List<Member> members, long epoch, long size, Duration timeout, Clock clock) {
        this.volume = volume;
        this.epoch = epoch;
        this.size = size;
        this.intents = new WriteIntents(size);
        this.fanOut = new FanOut(volume, members, timeout.toMillis(), intents, this::intentsChanged);
        this.followUps = Executors.newSingleThreadExecutor(
                Thread.ofPlatform().name("engine-fua-" + volume).daemon().factory());
        this.clock = clock;
    }

    /**
     * Starts the engine of {@code volume} on {@code endpoints}: asks each for its state, takes the next
     * epoch, and admits as RW the replicas that agree with the best one. A requested size larger than
     * the replicas' grows them; a smaller one is ignored (volumes never shrink).
     *
     * @throws NoHealthyReplicaException when no replica can serve
     */
    public static Engine start(
            String volume, long requestedSize, List<ReplicaEndpoint> endpoints, Duration timeout, Clock clock)
            throws IOException {
        Names.require("volume name", volume);
        if (endpoints.isEmpty()) {
            throw new IllegalArgumentException("volume " + volume + " needs at least one replica");
        }
        long millis = timeout.toMillis();
        Map<ReplicaEndpoint, ReplicaInfo> infos = new LinkedHashMap<>();
        Map<ReplicaEndpoint, String> failed = new LinkedHashMap<>();
        for (ReplicaEndpoint e : endpoints) {
            try {
                infos.put(e, await(e.info(), millis));
            } catch (IOException ex) {
                failed.put(e, FanOut.describe(ex));
            }
        }
        long epoch =
                1 + infos.values().stream().mapToLong(ReplicaInfo::epoch).max().orElse(0);
        for (var it = infos.entrySet().iterator(); it.hasNext(); ) {
            var entry = it.next();
            try {
                await(entry.getKey().acceptEpoch(epoch), millis);
            } catch (IOException ex) {
                failed.put(entry.getKey(), "could not take epoch " + epoch + ": " + FanOut.describe(ex));
                it.remove();
            }
        }
        ReplicaInfo best = Salvage.best(infos.values())
                .orElseThrow(() -> new NoHealthyReplicaException(
                        "volume " + volume + ": no complete replica answered: " + failed.values()));
        List<Member> members = new ArrayList<>();
        for (ReplicaEndpoint e : endpoints) {
            ReplicaInfo info = infos.get(e);
            String reason = failed.get(e);
            if (info != null) {
                reason = Salvage.reason(info, best);
            }
            Member m = new Member(e, reason == null ? Mode.RW : Mode.ERR);
            m.reason = reason;
            m.revision = info == null ? -1 : info.revision();
            members.add(m);
            if (reason != null) {
                log.warn("volume {}: replica {} starts in ERR: {}", volume, e.address(), reason);
                e.close();
            }
        }
        Engine engine = new Engine(volume, members, epoch, best.size(), timeout, clock);
        engine.decision = engine.explain("started at epoch " + epoch, best);
        log.info("volume {}: {}", volume, engine.decision);
        engine.loadIntents(millis);
        log.info(
                "volume {}: engine started at epoch {}, size {}, {} of {} replicas RW",
                volume,
                epoch,
                best.size(),
                members.stream().filter(m -> m.mode == Mode.RW).count(),
                members.size());
        if (requestedSize > best.size()) {
            try {
                engine.expand(requestedSize);
            } catch (IOException | RuntimeException e) {
                engine.close();
                throw e;
            }
        } else if (requestedSize < best.size() && requestedSize > 0) {
            log.warn(
                    "volume {}: requested size {} is below the replicas' {}; keeping {}",
                    volume,
                    requestedSize,
                    best.size(),
                    best.size());
        }
        return engine;
    }

    /**
     * Reads the write-intent map its replicas keep: which regions each replica that was away missed. A
     * replica that starts RW missed nothing and is dropped from it.
     */
    private void loadIntents(long millis) {
        for (Member m : fanOut.members()) {
            if (m.mode == Mode.RW) {
                try {
                    intents.merge(await(m.endpoint.intent(), millis));
                } catch (IOException | RuntimeException e) {
                    log.warn(
                            "volume {}: replica {}: unreadable write-intent map: {}",
                            volume,
                            m.address(),
                            e.toString());
                }
            }
        }
        for (Member m : fanOut.members()) {
            if (m.mode == Mode.RW) {
                intents.forget(m.address());
            }
        }
    }

    /** Tells the engine how many frontend clients are connected (revert needs none). */
    public void frontendClients(IntSupplier clients) {
        this.frontendClients = clients;
    }

    public String volume() {
        return volume;
    }

    public long epoch() {
        return epoch;
    }

    @Override
    public long size() {
        return size;
    }

    /** Totals of the reads and writes served so far. */
    public IoCounters.Totals ioTotals() {
        return counters.totals();
    }

    public EngineInfo info() {
        return new EngineInfo(
                volume,
                size,
                epoch,
                fanOut.members().stream().map(Member::state).toList(),
                frontendClients.getAsInt(),
                decision);
    }

    // ---- I/O ----

    @Override
    public void read(long offset, MemorySegment dst) throws IOException {
        long start = System.nanoTime();
        io.lock();
        try {
            check(offset, dst.byteSize());
            fanOut.fromOne("read", e -> e.read(offset, dst));
            counters.read(dst.byteSize(), start);
        } finally {
            io.unlock();
        }
    }

    @Override
    public void write(long offset, MemorySegment src, boolean fua) throws IOException {
        long start = System.nanoTime();
        io.lock();
        try {
            check(offset, src.byteSize());
            fanOut.toAll("write", offset, src.byteSize(), e -> e.write(epoch, offset, src));
            if (fua) {
                flushAll();
            }
            counters.write(src.byteSize(), start);
        } finally {
            io.unlock();
        }
    }

    /**
     * The frontend's hot path: {@link #read} with no thread of its own. The I/O gate is held until the
     * future completes, so a snapshot waits for it like for a blocking read.
     */
    @Override
    public CompletableFuture<Void> readAsync(long offset, MemorySegment dst) {
        long start = System.nanoTime();
        return gated(offset, dst.byteSize(), () -> fanOut.fromOneAsync("read", e -> e.read(offset, dst)))
                .whenComplete((v, t) -> {
                    if (t == null) {
                        counters.read(dst.byteSize(), start);
                    }
                });
    }

    /** {@link #write} with no thread of its own; see {@link #readAsync}. */
    @Override
    public CompletableFuture<Void> writeAsync(long offset, MemorySegment src, boolean fua) {
        long start = System.nanoTime();
        return gated(offset, src.byteSize(), () -> {
                    CompletableFuture<Void> written =
                            fanOut.toAllAsync("write", offset, src.byteSize(), e -> e.write(epoch, offset, src));
                    if (!fua) {
                        return written;
                    }
                    // Not on the reply thread that completed the write: it must never block sending to a replica.
                    // Nor on a virtual thread: its blocking send would turn the connection non-blocking for good,
                    // and every wait of the connection's reader would then cost three system calls.
                    return written.thenComposeAsync(v -> flushAllAsync(), followUps);
                })
                .whenComplete((v, t) -> {
                    if (t == null) {
                        counters.write(src.byteSize(), start);
                    }
                });
    }

    @Override
    public CompletableFuture<Void> flushAsync() {
        return gated(0, 0, this::flushAllAsync);
    }

    /**
     * Trims on every replica; while a rebuild runs, does nothing (trim only advises, and a trim punched
     * into the target's head could uncover snapshot data the rebuild has yet to correct).
     */
    @Override
    public CompletableFuture<Void> trimAsync(long offset, long length) {
        return gated(
                offset,
                length,
                () -> rebuilding()
                        ? CompletableFuture.completedFuture(null)
                        : fanOut.toAllAsync("trim", offset, length, e -> e.trim(epoch, offset, length)));
    }

    @Override
    public CompletableFuture<Void> writeZeroesAsync(long offset, long length, boolean mayPunch) {
        return gated(
                offset,
                length,
                () -> fanOut.toAllAsync("write-zeroes", offset, length, e -> e.writeZeroes(epoch, offset, length)));
    }

    /** Flushes every replica; the write-intent map, when it changed, is stored before the flush completes. */
    private CompletableFuture<Void> flushAllAsync() {
        CompletableFuture<Void> flushed = fanOut.toAllAsync("flush", ReplicaEndpoint::flush);
        if (!intents.dirty()) {
            return flushed;
        }
        return flushed.thenRunAsync(
                () -> {
                    try {
                        storeIntents();
                    } catch (IOException e) {
                        throw new java.util.concurrent.CompletionException(e);
                    }
                },
                followUps);
    }

    private void flushAll() throws IOException {
        fanOut.toAll("flush", ReplicaEndpoint::flush);
        storeIntents();
    }

    /** The write-intent map changed: store it soon, off the I/O path. */
    private void intentsChanged() {
        if (!closed && intentsQueued.compareAndSet(false, true)) {
            try {
                followUps.execute(() -> {
                    intentsQueued.set(false);
                    try {
                        storeIntents();
                    } catch (IOException | RuntimeException e) {
                        log.warn("volume {}: could not store the write-intent map: {}", volume, e.toString());
                    }
                });
            } catch (java.util.concurrent.RejectedExecutionException e) {
                intentsQueued.set(false); // closing
            }
        }
    }

    /** Stores the write-intent map on every replica written to, if it changed. */
    private void storeIntents() throws IOException {
        if (!intents.dirty()) {
            return;
        }
        long version = intents.version();
        byte[] map = intents.encode();
        fanOut.toAll("store the write-intent map", e -> e.putIntent(map));
        intents.persisted(version);
    }

    /** Runs an asynchronous request of the range under the I/O gate, held until the request completes. */
    private CompletableFuture<Void> gated(long offset, long length, Supplier<CompletableFuture<Void>> request) {
        lockIo();
        CompletableFuture<Void> started;
        try {
            check(offset, length);
            started = request.get();
        } catch (IOException | RuntimeException e) {
            started = CompletableFuture.failedFuture(e);
        }
        CompletableFuture<Void> done = new CompletableFuture<>();
        var _ = started.whenComplete((v, e) -> {
            io.unlock();
            if (e == null) {
                done.complete(null);
            } else {
                done.completeExceptionally(FanOut.unwrap(e));
            }
        });
        return done;
    }

    /** Takes the I/O gate; a plugged caller flushes first, since a drain may be waiting for what it holds. */
    private void lockIo() {
        if (!io.tryLock()) {
            Plug plug = Plug.current();
            if (plug != null) {
                plug.flush();
            }
            io.lock();
        }
    }

    @Override
    public void flush() throws IOException {
        io.lock();
        try {
            ensureOpen();
            flushAll();
        } finally {
            io.unlock();
        }
    }

    @Override
    public void trim(long offset, long length) throws IOException {
        io.lock();
        try {
            check(offset, length);
            if (!rebuilding()) {
                fanOut.toAll("trim", offset, length, e -> e.trim(epoch, offset, length));
            }
        } finally {
            io.unlock();
        }
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayPunch) throws IOException {
        io.lock();
        try {
            check(offset, length);
            fanOut.toAll("write-zeroes", offset, length, e -> e.writeZeroes(epoch, offset, length));
        } finally {
            io.unlock();
        }
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        io.lock();
        try {
            check(offset, length);
            return fanOut.fromOne("extents", e -> e.extents(offset, length));
        } finally {
            io.unlock();
        }
    }

    // ---- chain operations ----

    /** Drains I/O and snapshots every replica not in ERR under one name and time. */
    public SnapshotInfo snapshot(String name, boolean userCreated, Map<String, String> labels) throws IOException {
        Names.require("snapshot name", name);
        return chainOp(true, () -> {
            repairPartialBlocks();
            Instant created = clock.instant();
            return fanOut.toAll("snapshot " + name, e -> e.snapshot(name, userCreated, labels, created));
        });
    }

    public List<SnapshotInfo> snapshots() throws IOException {
        io.lock();
        try {
            ensureOpen();
            return fanOut.fromOne("list snapshots", ReplicaEndpoint::snapshots);
        } finally {
            io.unlock();
        }
    }

    public void deleteSnapshot(String name) throws IOException {
        chainOp(false, "delete a snapshot", () -> fanOut.toAll("delete snapshot " + name, e -> e.deleteSnapshot(name)));
    }

    /** Purges removed snapshots on every replica; returns the names that are gone. */
    public List<String> purge() throws IOException {
        return chainOp(false, "purge snapshots", () -> fanOut.toAll("purge", ReplicaEndpoint::purge));
    }

    /** Reverts every replica to snapshot {@code name}; refused while frontend clients are connected. */
    public void revert(String name) throws IOException {
        int clients = frontendClients.getAsInt();
        if (clients > 0) {
            throw new IllegalStateException("cannot revert volume " + volume + " while " + clients
                    + " frontend client(s) are connected: disconnect them first");
        }
        chainOp(true, "revert", () -> fanOut.toAll("revert to " + name, e -> e.revert(name)));
    }

    /** Grows the volume online: replicas first, then the size new frontend connections see. */
    public void expand(long newSize) throws IOException {
        if (newSize <= 0 || newSize % 4096 != 0) {
            throw new IllegalArgumentException("invalid size " + newSize + ": it must be a positive multiple of 4096");
        }
        if (newSize < size) {
            throw new IllegalArgumentException(
                    "cannot shrink volume " + volume + " from " + size + " to " + newSize + " bytes");
        }
        chainOp(true, "expand", () -> {
            if (newSize > size) {
                fanOut.toAll("expand to " + newSize, e -> e.expand(newSize));
                size = newSize;
            }
            return null;
        });
    }

    // ---- membership and rebuild ----

    /**
     * Adds the replica at {@code endpoint} (empty, or a stale copy) and starts rebuilding it in the
     * background: with I/O drained, a system snapshot is taken on every replica, the new one takes the
     * source's snapshot tree under an empty head and joins WO, so it receives every write from then on;
     * the snapshots are then copied ({@link Rebuild}), and the replica turns RW once its chain matches.
     * One rebuild at a time. A replica already in the volume may be added again only while it is ERR.
     *
     * @param bandwidth bytes per second the copy may use; 0 for no limit
     * @return the rebuild's status as it starts
     */
    public RebuildStatus addReplica(ReplicaEndpoint endpoint, long bandwidth) throws IOException {
        if (bandwidth < 0) {
            throw new IllegalArgumentException("bandwidth must be 0 (no limit) or positive, not " + bandwidth);
        }
        opLock.lock();
        try {
            ensureOpen();
            if (rebuilding()) {
                throw new IllegalStateException(
                        "replica " + rebuild.target().address() + " is being rebuilt; one rebuild at a time");
            }
            for (Member m : fanOut.members()) {
                if (m.address().equals(endpoint.address()) && m.mode != Mode.ERR) {
                    throw new IllegalArgumentException(
                            "replica " + endpoint.address() + " is already " + m.mode + " in volume " + volume);
                }
            }
            long millis = fanOut.timeoutMillis();
            ReplicaInfo info = await(endpoint.info(), millis);
            if (info.size() > size) {
                throw new IllegalArgumentException("replica " + endpoint.address() + " has " + info.size()
                        + " bytes, more than volume " + volume + "'s " + size);
            }
            await(endpoint.acceptEpoch(epoch), millis);
            if (info.size() < size && !info.rebuilding()) {
                await(endpoint.expand(size), millis);
            }
            Member target = new Member(endpoint, Mode.WO);
            List<SnapshotInfo> layers;
            java.util.BitSet regions = null;
            String name = "rebuild-" + Long.toString(clock.millis(), 36);
            drain.lock();
            try {
                // Back with its data intact (same chain, tracked since it left): resync what it missed only.
                ReplicaInfo current = fanOut.fromOne("info", ReplicaEndpoint::info);
                if (intents.has(endpoint.address())
                        && !info.rebuilding()
                        && info.chain().equals(current.chain())) {
                    regions = intents.regions(endpoint.address());
                }
                Instant created = clock.instant();
                fanOut.toAll("snapshot " + name, e -> e.snapshot(name, false, Map.of("system", "rebuild"), created));
                layers = fanOut.fromOne("list snapshots", ReplicaEndpoint::snapshots);
                await(endpoint.prepareRebuild(epoch, layers, name), millis);
                fanOut.add(target);
            } finally {
                drain.unlock();
            }
            Rebuild r = new Rebuild(
                    target,
                    name,
                    this::source,
                    layers,
                    regions,
                    intents.regionSize(),
                    size,
                    epoch,
                    bandwidth,
                    4 * millis,
                    clock);
            rebuild = r;
            log.info(
                    "volume {}: {} of replica {}: {} snapshots, {} bytes",
                    volume,
                    regions == null ? "full rebuild" : "catch-up",
                    endpoint.address(),
                    layers.size(),
                    r.status().bytesTotal());
            Thread.ofPlatform().name("rebuild-" + volume).daemon().start(() -> runRebuild(r));
            return r.status();
        } catch (IOException | RuntimeException e) {
            endpoint.close();
            throw e;
        } finally {
            opLock.unlock();
        }
    }

    private Member source() {
        Member best = null;
        for (Member m : fanOut.members()) {
            if (m.mode == Mode.RW && (best == null || m.outstanding.get() < best.outstanding.get())) {
                best = m;
            }
        }
        if (best == null) {
            throw new IllegalStateException("no RW replica left to rebuild from");
        }
        return best;
    }

    private void runRebuild(Rebuild r) {
        try {
            r.copy();
            // the copy's data reaches the disk with I/O going on; the drained finish then syncs little
            await(r.target().endpoint.syncLayers(), SYNC_MILLIS);
            finishRebuild(r);
            intents.forget(r.target().address());
            intentsChanged();
            r.ended("done", null);
            log.info(
                    "volume {}: replica {} rebuilt and RW: {}",
                    volume,
                    r.target().address(),
                    r.status());
            try { // the system snapshot has served; purge may fold it away
                deleteSnapshot(r.snapshot());
            } catch (IOException | RuntimeException e) {
                log.warn("volume {}: could not mark snapshot {} removed: {}", volume, r.snapshot(), e.toString());
            }
        } catch (IOException | RuntimeException e) {
            fanOut.fail(r.target(), e);
            r.ended(closed ? "cancelled" : "failed", e);
            log.warn("volume {}: rebuild of {} failed: {}", volume, r.target().address(), FanOut.describe(e));
        }
    }

    /** With I/O drained: repairs partial blocks, gives the target the revision, checks chains, makes it RW. */
    private void finishRebuild(Rebuild r) throws IOException {
        chainOp(true, () -> {
            Member target = r.target();
            long millis = fanOut.timeoutMillis();
            repairPartialBlocks();
            ReplicaInfo source = fanOut.fromOne("info", ReplicaEndpoint::info);
            await(target.endpoint.finishRebuild(epoch, source.revision()), SYNC_MILLIS);
            ReplicaInfo rebuilt = await(target.endpoint.info(), millis);
            if (!rebuilt.chain().equals(source.chain()) || rebuilt.rebuilding()) {
                throw new IOException("rebuilt chain " + rebuilt.chain() + " differs from " + source.chain());
            }
            if (!fanOut.move(target, Mode.WO, Mode.RW)) {
                throw new IOException("replica " + target.address() + " left WO during its rebuild");
            }
            target.revision = source.revision();
            return null;
        });
    }

    /**
     * Rewrites, whole, the blocks a rebuilding replica took partial writes of (their other bytes came
     * from layers not yet copied), reading them from a RW replica. Runs with I/O drained.
     */
    private void repairPartialBlocks() throws IOException {
        Rebuild r = rebuild;
        if (r == null || !r.running()) {
            return;
        }
        Member target = r.target();
        long millis = fanOut.timeoutMillis();
        long[] blocks = await(target.endpoint.takePartialBlocks(), millis);
        if (blocks.length == 0) {
            return;
        }
        try (java.lang.foreign.Arena arena =
                java.lang.foreign.Arena.ofShared()) { // replicas may fill it on their threads
            MemorySegment buf = arena.allocate(Replica.BLOCK, Replica.BLOCK);
            for (long b : blocks) {
                long offset = b * Replica.BLOCK;
                fanOut.fromOne("read", e -> e.read(offset, buf));
                await(target.endpoint.write(epoch, offset, buf), millis);
            }
        }
        log.info("volume {}: rewrote {} partially written blocks on {}", volume, blocks.length, target.address());
    }

    /**
     * Brings a volume whose replicas have all failed back: reconnects to every replica, keeps as RW those
     * holding every acknowledged write ({@link Salvage}: this engine's epoch, then the highest revision)
     * and leaves the others ERR, to be rebuilt. Refused while a replica is RW, and when a replica has
     * taken a newer engine's epoch (this engine is fenced). The choice is logged and shown by {@link #info}.
     */
    public String salvage(ReplicaConnector connector) throws IOException {
        return chainOp(true, () -> {
            List<Member> failed = fanOut.members();
            if (failed.stream().anyMatch(m -> m.mode != Mode.ERR)) {
                throw new IllegalStateException("volume " + volume
                        + " still has replicas that are not ERR; salvage is for a volume whose replicas all failed");
            }
            long millis = fanOut.timeoutMillis();
            Map<Member, ReplicaInfo> infos = new LinkedHashMap<>();
            Map<Member, ReplicaEndpoint> endpoints = new LinkedHashMap<>();
            for (Member m : failed) {
                try {
                    ReplicaEndpoint e = connector.connect(m.address());
                    endpoints.put(m, e);
                    infos.put(m, await(e.info(), millis));
                } catch (IOException | RuntimeException e) {
                    m.reason = "salvage could not reach it: " + FanOut.describe(e);
                }
            }
            try {
                for (var e : infos.entrySet()) {
                    if (e.getValue().epoch() > epoch) {
                        throw new IllegalStateException("this engine (epoch " + epoch + ") is fenced: replica "
                                + e.getKey().address() + " has accepted epoch "
                                + e.getValue().epoch()
                                + " of a newer engine");
                    }
                }
                ReplicaInfo best = Salvage.best(infos.values())
                        .orElseThrow(() -> new NoHealthyReplicaException(
                                "volume " + volume + ": salvage found no complete replica to bring back"));
                for (Member m : failed) {
                    ReplicaInfo info = infos.get(m);
                    String reason = info == null ? m.reason : Salvage.reason(info, best);
                    if (info != null && reason == null && info.epoch() == epoch) {
                        Member back = new Member(endpoints.remove(m), Mode.RW);
                        back.revision = info.revision();
                        fanOut.add(back);
                        intents.forget(m.address());
                    } else {
                        m.reason = reason != null ? reason : "epoch " + info.epoch() + " was never this engine's";
                    }
                }
                intentsChanged();
                decision = explain("salvaged at epoch " + epoch, best);
                log.warn("volume {}: {}", volume, decision);
                return decision;
            } finally {
                endpoints.values().forEach(ReplicaEndpoint::close);
            }
        });
    }

    /** One line on which replicas serve, from which state, and why the others do not. */
    private String explain(String what, ReplicaInfo best) {
        StringBuilder s = new StringBuilder(what)
                .append(": serving from the replicas at epoch ")
                .append(best.epoch())
                .append(", revision ")
                .append(best.revision());
        for (Member m : fanOut.members()) {
            s.append("; ").append(m.address()).append(' ').append(m.mode);
            if (m.mode == Mode.ERR && m.reason != null) {
                s.append(" (").append(m.reason).append(')');
            }
        }
        return s.toString();
    }

    /** Whether a rebuild is running. */
    public boolean rebuilding() {
        Rebuild r = rebuild;
        return r != null && r.running();
    }

    /** The current or last rebuild. */
    public RebuildStatus rebuildStatus() {
        Rebuild r = rebuild;
        return r == null ? RebuildStatus.NONE : r.status();
    }

    /**
     * Removes the replica at {@code address} from the volume and closes its connection; a rebuild of it
     * is cancelled. The last RW replica is never removed.
     */
    public void removeReplica(String address) throws IOException {
        chainOp(true, () -> {
            Member found = null;
            long rw = 0;
            for (Member m : fanOut.members()) {
                if (m.address().equals(address)) {
                    found = m;
                }
                rw += m.mode == Mode.RW ? 1 : 0;
            }
            if (found == null) {
                throw new IllegalArgumentException("volume " + volume + " has no replica " + address);
            }
            if (found.mode == Mode.RW && rw == 1) {
                throw new IllegalStateException("replica " + address + " is the last RW replica of volume " + volume
                        + " and cannot be removed");
            }
            Rebuild r = rebuild;
            if (r != null && r.target() == found) {
                r.cancel();
            }
            fanOut.remove(found);
            found.endpoint.close();
            log.info("volume {}: replica {} removed", volume, address);
            return null;
        });
    }

    @FunctionalInterface
    private interface ChainOp<T> {
        T run() throws IOException;
    }

    private <T> T chainOp(boolean drainIo, ChainOp<T> op) throws IOException {
        return chainOp(drainIo, null, op);
    }

    /** Runs a chain operation alone; {@code notWhileRebuilding} names one a rebuild must not see. */
    private <T> T chainOp(boolean drainIo, String notWhileRebuilding, ChainOp<T> op) throws IOException {
        opLock.lock();
        try {
            ensureOpen();
            if (notWhileRebuilding != null && rebuilding()) {
                throw new IllegalStateException("cannot " + notWhileRebuilding + " on volume " + volume
                        + " while replica " + rebuild.target().address() + " is being rebuilt; see rebuild-status");
            }
            if (!drainIo) {
                return op.run();
            }
            drain.lock();
            try {
                return op.run();
            } finally {
                drain.unlock();
            }
        } finally {
            opLock.unlock();
        }
    }

    @Override
    public void close() {
        opLock.lock();
        drain.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            Rebuild r = rebuild;
            if (r != null) {
                r.cancel();
            }
            fanOut.close();
            followUps.shutdown();
            for (Member m : fanOut.members()) {
                m.endpoint.close();
            }
        } finally {
            drain.unlock();
            opLock.unlock();
        }
    }

    private void check(long offset, long length) throws IOException {
        ensureOpen();
        OutOfRangeException.check(offset, length, size, SECTOR);
    }

    private void ensureOpen() throws IOException {
        if (closed) {
            throw new IOException("the engine of volume " + volume + " is closed");
        }
    }

    private static <T> T await(CompletableFuture<T> future, long millis) throws IOException {
        try {
            return future.orTimeout(millis, TimeUnit.MILLISECONDS).join();
        } catch (CompletionException e) {
            Throwable cause = FanOut.unwrap(e);
            if (cause instanceof java.util.concurrent.TimeoutException) {
                throw new IOException("no answer within " + millis + " ms", cause);
            }
            throw FanOut.asIo(cause);
        }
    }
}
