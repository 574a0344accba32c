package io.bighorn.dataplane.engine;

import io.bighorn.common.Names;
import io.bighorn.dataplane.blockdev.BlockDevice;
import io.bighorn.dataplane.blockdev.NoSpaceException;
import io.bighorn.dataplane.blockdev.OutOfRangeException;
import io.bighorn.dataplane.replica.ReplicaEndpoint;
import io.bighorn.dataplane.replica.ReplicaInfo;
import io.bighorn.dataplane.replica.SnapshotException;
import io.bighorn.dataplane.replica.SnapshotInfo;
import io.bighorn.dataplane.replica.StaleEpochException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.StampedLock;
import java.util.function.Function;
import java.util.function.IntSupplier;
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

    private final String volume;
    private final List<Member> members;
    private final long epoch;
    private final long timeoutMillis;
    private final Clock clock;
    private final StampedLock gate = new StampedLock();
    private final Lock io = gate.asReadLock();
    private final Lock drain = gate.asWriteLock();
    private final ReentrantLock opLock = new ReentrantLock();
    private final Object modeLock = new Object();
    private volatile long size;
    private volatile IntSupplier frontendClients = () -> 0;
    private volatile boolean closed;

    private Engine(String volume, List<Member> members, long epoch, long size, Duration timeout, Clock clock) {
        this.volume = volume;
        this.members = List.copyOf(members);
        this.epoch = epoch;
        this.size = size;
        this.timeoutMillis = timeout.toMillis();
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
                failed.put(e, describe(ex));
            }
        }
        long epoch =
                1 + infos.values().stream().mapToLong(ReplicaInfo::epoch).max().orElse(0);
        for (var it = infos.entrySet().iterator(); it.hasNext(); ) {
            var entry = it.next();
            try {
                await(entry.getKey().acceptEpoch(epoch), millis);
            } catch (IOException ex) {
                failed.put(entry.getKey(), "could not take epoch " + epoch + ": " + describe(ex));
                it.remove();
            }
        }
        ReplicaInfo best = infos.values().stream()
                .max((a, b) -> Long.compare(a.revision(), b.revision()))
                .orElseThrow(() -> new NoHealthyReplicaException(
                        "volume " + volume + ": no replica answered: " + failed.values()));
        List<Member> members = new ArrayList<>();
        for (ReplicaEndpoint e : endpoints) {
            ReplicaInfo info = infos.get(e);
            String reason = failed.get(e);
            if (info != null) {
                if (info.size() != best.size()) {
                    reason = "size " + info.size() + " differs from " + best.size();
                } else if (info.revision() != best.revision()) {
                    reason = "revision " + info.revision() + " is behind " + best.revision();
                } else if (!info.chain().equals(best.chain())) {
                    reason = "chain " + info.chain() + " differs from " + best.chain();
                }
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
        log.info(
                "volume {}: engine started at epoch {}, size {}, {} of {} replicas RW",
                volume,
                epoch,
                best.size(),
                members.stream().filter(m -> m.mode == Mode.RW).count(),
                members.size());
        if (requestedSize > best.size()) {
            engine.expand(requestedSize);
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

    public EngineInfo info() {
        return new EngineInfo(
                volume, size, epoch, members.stream().map(Member::state).toList(), frontendClients.getAsInt());
    }

    // ---- I/O ----

    @Override
    public void read(long offset, MemorySegment dst) throws IOException {
        io.lock();
        try {
            check(offset, dst.byteSize());
            fromOneReplica("read", e -> e.read(offset, dst));
        } finally {
            io.unlock();
        }
    }

    @Override
    public void write(long offset, MemorySegment src, boolean fua) throws IOException {
        io.lock();
        try {
            check(offset, src.byteSize());
            toAllReplicas("write", e -> e.write(epoch, offset, src));
            if (fua) {
                toAllReplicas("flush", ReplicaEndpoint::flush);
            }
        } finally {
            io.unlock();
        }
    }

    @Override
    public void flush() throws IOException {
        io.lock();
        try {
            ensureOpen();
            toAllReplicas("flush", ReplicaEndpoint::flush);
        } finally {
            io.unlock();
        }
    }

    @Override
    public void trim(long offset, long length) throws IOException {
        io.lock();
        try {
            check(offset, length);
            toAllReplicas("trim", e -> e.trim(epoch, offset, length));
        } finally {
            io.unlock();
        }
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayPunch) throws IOException {
        io.lock();
        try {
            check(offset, length);
            toAllReplicas("write-zeroes", e -> e.writeZeroes(epoch, offset, length));
        } finally {
            io.unlock();
        }
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        io.lock();
        try {
            check(offset, length);
            return fromOneReplica("extents", e -> e.extents(offset, length));
        } finally {
            io.unlock();
        }
    }

    // ---- chain operations ----

    /** Drains I/O and snapshots every replica not in ERR under one name and time. */
    public SnapshotInfo snapshot(String name, boolean userCreated, Map<String, String> labels) throws IOException {
        Names.require("snapshot name", name);
        return chainOp(true, () -> {
            Instant created = clock.instant();
            return toAllReplicas("snapshot " + name, e -> e.snapshot(name, userCreated, labels, created));
        });
    }

    public List<SnapshotInfo> snapshots() throws IOException {
        io.lock();
        try {
            ensureOpen();
            return fromOneReplica("list snapshots", ReplicaEndpoint::snapshots);
        } finally {
            io.unlock();
        }
    }

    public void deleteSnapshot(String name) throws IOException {
        chainOp(false, () -> toAllReplicas("delete snapshot " + name, e -> e.deleteSnapshot(name)));
    }

    /** Purges removed snapshots on every replica; returns the names that are gone. */
    public List<String> purge() throws IOException {
        return chainOp(false, () -> toAllReplicas("purge", ReplicaEndpoint::purge));
    }

    /** Reverts every replica to snapshot {@code name}; refused while frontend clients are connected. */
    public void revert(String name) throws IOException {
        int clients = frontendClients.getAsInt();
        if (clients > 0) {
            throw new IllegalStateException("cannot revert volume " + volume + " while " + clients
                    + " frontend client(s) are connected: disconnect them first");
        }
        chainOp(true, () -> toAllReplicas("revert to " + name, e -> e.revert(name)));
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
        chainOp(true, () -> {
            if (newSize > size) {
                toAllReplicas("expand to " + newSize, e -> e.expand(newSize));
                size = newSize;
            }
            return null;
        });
    }

    @FunctionalInterface
    private interface ChainOp<T> {
        T run() throws IOException;
    }

    private <T> T chainOp(boolean drainIo, ChainOp<T> op) throws IOException {
        opLock.lock();
        try {
            ensureOpen();
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
            for (Member m : members) {
                m.endpoint.close();
            }
        } finally {
            drain.unlock();
            opLock.unlock();
        }
    }

    // ---- fan-out ----

    /**
     * Runs {@code call} on every replica not in ERR at once and waits for all. Replicas that fail become
     * ERR, unless every replica refused the request itself (a bad name, say), which is rethrown, or every
     * RW replica is full, which becomes {@link NoSpaceException}. Returns the first RW result.
     */
    private <T> T toAllReplicas(String what, Function<ReplicaEndpoint, CompletableFuture<T>> call) throws IOException {
        List<Member> targets = new ArrayList<>();
        for (Member m : members) {
            if (m.mode.writable()) {
                targets.add(m);
            }
        }
        if (targets.stream().noneMatch(m -> m.mode == Mode.RW)) {
            throw noHealthy(what);
        }
        List<CompletableFuture<T>> futures = new ArrayList<>();
        for (Member m : targets) {
            m.outstanding.incrementAndGet();
            futures.add(call.apply(m.endpoint).orTimeout(timeoutMillis, TimeUnit.MILLISECONDS));
        }
        T result = null;
        boolean rwSucceeded = false;
        Map<Member, Throwable> failures = new LinkedHashMap<>();
        for (int i = 0; i < targets.size(); i++) {
            Member m = targets.get(i);
            try {
                T value = futures.get(i).join();
                if (m.mode == Mode.RW && !rwSucceeded) {
                    rwSucceeded = true;
                    result = value;
                }
            } catch (CompletionException e) {
                failures.put(m, unwrap(e));
            } finally {
                m.outstanding.decrementAndGet();
            }
        }
        if (failures.isEmpty()) {
            return result;
        }
        if (!rwSucceeded && failures.size() == targets.size()) {
            Throwable first = failures.values().iterator().next();
            if (failures.values().stream().allMatch(Engine::isRequestError)) {
                throw asIo(first); // the request itself was bad; no replica is to blame
            }
            if (failures.values().stream().allMatch(t -> t instanceof NoSpaceException)) {
                throw new NoSpaceException("volume " + volume + ": " + what + " failed: every replica is full");
            }
        }
        failures.forEach(this::fail);
        if (!rwSucceeded) {
            throw noHealthy(what);
        }
        return result;
    }

    /** Runs {@code call} on one RW replica, the least loaded, moving on to the next on failure. */
    private <T> T fromOneReplica(String what, Function<ReplicaEndpoint, CompletableFuture<T>> call) throws IOException {
        Set<Member> tried = new HashSet<>();
        while (true) {
            Member m = null;
            for (Member c : members) {
                if (c.mode == Mode.RW
                        && !tried.contains(c)
                        && (m == null || c.outstanding.get() < m.outstanding.get())) {
                    m = c;
                }
            }
            if (m == null) {
                throw noHealthy(what);
            }
            tried.add(m);
            m.outstanding.incrementAndGet();
            try {
                return call.apply(m.endpoint)
                        .orTimeout(timeoutMillis, TimeUnit.MILLISECONDS)
                        .join();
            } catch (CompletionException e) {
                Throwable cause = unwrap(e);
                if (isRequestError(cause)) {
                    throw asIo(cause);
                }
                fail(m, cause);
            } finally {
                m.outstanding.decrementAndGet();
            }
        }
    }

    /**
     * Moves a replica to ERR (once) and closes its endpoint. Every caller closes it, even when another
     * thread already failed the replica: close returns only once no reply can touch a buffer any more,
     * and this caller is about to hand its buffer back or to another replica.
     */
    private void fail(Member m, Throwable cause) {
        boolean first = false;
        synchronized (modeLock) {
            if (m.mode.canBecome(Mode.ERR)) {
                m.mode = Mode.ERR;
                m.reason = describe(cause);
                first = true;
            }
        }
        if (first) {
            log.warn("volume {}: replica {} is now ERR: {}", volume, m.address(), m.reason);
        }
        m.endpoint.close();
    }

    private NoHealthyReplicaException noHealthy(String what) {
        StringBuilder why = new StringBuilder();
        for (Member m : members) {
            why.append(' ').append(m.address()).append(": ").append(m.mode);
            if (m.reason != null) {
                why.append(" (").append(m.reason).append(')');
            }
            why.append(';');
        }
        return new NoHealthyReplicaException(
                "volume " + volume + ": " + what + " failed: no healthy replica left;" + why);
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

    /** The request itself was wrong (a bad name, a buffer the caller may not share): no replica is to blame. */
    private static boolean isRequestError(Throwable t) {
        return t instanceof SnapshotException
                || t instanceof IllegalArgumentException
                || t instanceof WrongThreadException;
    }

    private static Throwable unwrap(Throwable t) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    private static IOException asIo(Throwable t) {
        if (t instanceof IOException io) {
            return io;
        }
        if (t instanceof RuntimeException re) {
            throw re;
        }
        return new IOException(t);
    }

    private static String describe(Throwable t) {
        if (t instanceof TimeoutException) {
            return "no answer within the engine-replica timeout";
        }
        if (t instanceof StaleEpochException) {
            return "fenced by a newer engine: " + t.getMessage();
        }
        return t.getMessage() == null ? t.toString() : t.getMessage();
    }

    private static <T> T await(CompletableFuture<T> future, long millis) throws IOException {
        try {
            return future.orTimeout(millis, TimeUnit.MILLISECONDS).join();
        } catch (CompletionException e) {
            throw asIo(unwrap(e));
        }
    }
}
