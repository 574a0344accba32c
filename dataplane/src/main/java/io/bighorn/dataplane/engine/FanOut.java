package io.bighorn.dataplane.engine;

import io.bighorn.dataplane.blockdev.NoSpaceException;
import io.bighorn.dataplane.replica.ReplicaEndpoint;
import io.bighorn.dataplane.replica.SnapshotException;
import io.bighorn.dataplane.replica.StaleEpochException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How the engine sends one request to its replicas: to all of them ({@link #toAll}) or to one
 * ({@link #fromOne}), and what a failure does to a replica's mode.
 *
 * <p>Each comes blocking and asynchronous. The asynchronous forms are the I/O hot path: they complete
 * straight from the replicas' reply threads when every replica answered well, with no thread per request.
 * Anything else (a failed or timed-out replica, a request error) is rare and is decided by the same code
 * as the blocking form, on a virtual thread of its own: failing a replica closes its endpoint, which waits
 * for that endpoint's reply threads, so it never runs on one of them.
 */
final class FanOut {
    private static final Logger log = LoggerFactory.getLogger(FanOut.class);

    private final String volume;
    /** Copy on write, under {@link #modeLock}: replicas join and leave while I/O runs. */
    private volatile List<Member> members;

    private final long timeoutNanos;
    private final Object modeLock = new Object();
    /** Requests sent and not answered yet, with their deadlines ({@link System#nanoTime}). */
    private final Map<CompletableFuture<?>, Long> deadlines = new ConcurrentHashMap<>();

    private final Thread sweeper;
    private volatile boolean closed;
    /** Which regions the replicas not written to missed, and whom to tell when that map changes. */
    private final WriteIntents intents;

    private final Runnable intentsChanged;

    /**
     * The engine-replica timeout is enforced by one sweeper thread that fails late requests, a few times
     * per timeout: a timer per request ({@code orTimeout}) costs a scheduling round and a wake-up of the
     * JDK's delay thread for every replica request.
     */
    FanOut(String volume, List<Member> members, long timeoutMillis, WriteIntents intents, Runnable intentsChanged) {
        this.volume = volume;
        this.intents = intents;
        this.intentsChanged = intentsChanged;
        this.members = List.copyOf(members);
        this.timeoutNanos = TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        long period = Math.clamp(timeoutNanos / 4, TimeUnit.MILLISECONDS.toNanos(10), TimeUnit.SECONDS.toNanos(1));
        this.sweeper =
                Thread.ofPlatform().name("engine-timeouts-" + volume).daemon().start(() -> sweep(period));
    }

    private void sweep(long period) {
        while (!closed) {
            LockSupport.parkNanos(this, period);
            long now = System.nanoTime();
            for (var e : deadlines.entrySet()) {
                if (now - e.getValue() >= 0) {
                    e.getKey().completeExceptionally(new TimeoutException());
                }
            }
        }
    }

    /** Stops the sweeper; requests still unanswered are the endpoints' to fail as they close. */
    void close() {
        closed = true;
        LockSupport.unpark(sweeper);
    }

    List<Member> members() {
        return members;
    }

    long timeoutMillis() {
        return TimeUnit.NANOSECONDS.toMillis(timeoutNanos);
    }

    /** Adds {@code m}, in place of the member with the same address if there is one (which must be ERR). */
    void add(Member m) {
        synchronized (modeLock) {
            List<Member> next = new ArrayList<>(members);
            next.removeIf(old -> old.address().equals(m.address()));
            next.add(m);
            members = List.copyOf(next);
        }
    }

    /** Removes {@code m}; the caller closes its endpoint. */
    void remove(Member m) {
        synchronized (modeLock) {
            List<Member> next = new ArrayList<>(members);
            next.remove(m);
            members = List.copyOf(next);
        }
    }

    /** Moves {@code m} from {@code from} to {@code to}; false if it is no longer in {@code from}. */
    boolean move(Member m, Mode from, Mode to) {
        synchronized (modeLock) {
            if (m.mode != from || !from.canBecome(to) || !members.contains(m)) {
                return false;
            }
            m.mode = to;
            m.reason = null;
            return true;
        }
    }

    // ---- to every replica ----

    /**
     * Runs {@code call} on every replica not in ERR at once and waits for all. Replicas that fail become
     * ERR, unless every replica refused the request itself (a bad name, say), which is rethrown, or every
     * RW replica is full, which becomes {@link NoSpaceException}. Returns the first RW result.
     */
    <T> T toAll(String what, Function<ReplicaEndpoint, CompletableFuture<T>> call) throws IOException {
        List<Member> targets = targets(what);
        return settle(what, targets, start(targets, call), 0, 0);
    }

    private List<Member> others(List<Member> targets) {
        List<Member> others = new ArrayList<>(members);
        others.removeAll(targets);
        return others;
    }

    private void missedBy(List<Member> missing, long offset, long length) {
        boolean changed = false;
        for (Member m : missing) {
            changed |= intents.mark(m.address(), offset, length);
        }
        if (changed) {
            intentsChanged.run();
        }
    }

    /**
     * {@link #toAll} for a request that changes {@code [offset, offset + length)}: the replicas it does
     * not reach, now or by failing, get the range in the write-intent map.
     */
    <T> T toAll(String what, long offset, long length, Function<ReplicaEndpoint, CompletableFuture<T>> call)
            throws IOException {
        List<Member> targets = targets(what);
        missedBy(others(targets), offset, length);
        return settle(what, targets, start(targets, call), offset, length);
    }

    /** {@link #toAll} without blocking: completes when every replica answered, exceptionally as it throws. */
    <T> CompletableFuture<T> toAllAsync(String what, Function<ReplicaEndpoint, CompletableFuture<T>> call) {
        return toAllAsync(what, 0, 0, call);
    }

    /** {@link #toAll(String, long, long, Function)} without blocking. */
    <T> CompletableFuture<T> toAllAsync(
            String what, long offset, long length, Function<ReplicaEndpoint, CompletableFuture<T>> call) {
        List<Member> targets;
        try {
            targets = targets(what);
        } catch (IOException e) {
            return CompletableFuture.failedFuture(e);
        }
        if (length > 0 && targets.size() < members.size()) {
            missedBy(others(targets), offset, length);
        }
        List<CompletableFuture<T>> futures = start(targets, call);
        CompletableFuture<T> result = new CompletableFuture<>();
        AtomicInteger left = new AtomicInteger(futures.size());
        for (CompletableFuture<T> f : futures) {
            var _ = f.whenComplete((v, e) -> {
                if (left.decrementAndGet() > 0) {
                    return;
                }
                int first = firstRw(targets);
                if (first >= 0 && futures.stream().noneMatch(CompletableFuture::isCompletedExceptionally)) {
                    result.complete(futures.get(first).join());
                } else {
                    slowly(result, () -> settle(what, targets, futures, offset, length));
                }
            });
        }
        return result;
    }

    private static int firstRw(List<Member> targets) {
        for (int i = 0; i < targets.size(); i++) {
            if (targets.get(i).mode == Mode.RW) {
                return i;
            }
        }
        return -1;
    }

    private List<Member> targets(String what) throws NoHealthyReplicaException {
        List<Member> targets = new ArrayList<>(members.size());
        boolean rw = false;
        for (Member m : members) {
            if (m.mode.writable()) {
                targets.add(m);
                rw |= m.mode == Mode.RW;
            }
        }
        if (!rw) {
            throw noHealthy(what);
        }
        return targets;
    }

    private <T> List<CompletableFuture<T>> start(
            List<Member> targets, Function<ReplicaEndpoint, CompletableFuture<T>> call) {
        List<CompletableFuture<T>> futures = new ArrayList<>(targets.size());
        for (Member m : targets) {
            futures.add(send(m, call));
        }
        return futures;
    }

    /** One request to one replica, counted in its load until it completes, bounded by the timeout. */
    private <T> CompletableFuture<T> send(Member m, Function<ReplicaEndpoint, CompletableFuture<T>> call) {
        m.outstanding.incrementAndGet();
        CompletableFuture<T> f;
        try {
            f = call.apply(m.endpoint);
        } catch (RuntimeException e) {
            f = CompletableFuture.failedFuture(e);
        }
        CompletableFuture<T> request = f;
        deadlines.put(request, System.nanoTime() + timeoutNanos);
        return f.whenComplete((v, e) -> {
            deadlines.remove(request);
            m.outstanding.decrementAndGet();
        });
    }

    /** Waits for every future of a {@link #toAll} and decides its outcome. */
    private <T> T settle(
            String what, List<Member> targets, List<CompletableFuture<T>> futures, long offset, long length)
            throws IOException {
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
            }
        }
        if (failures.isEmpty()) {
            return result;
        }
        if (!rwSucceeded && failures.size() == targets.size()) {
            Throwable first = failures.values().iterator().next();
            if (failures.values().stream().allMatch(FanOut::isRequestError)) {
                throw asIo(first); // the request itself was bad; no replica is to blame
            }
            if (failures.values().stream().allMatch(t -> t instanceof NoSpaceException)) {
                throw new NoSpaceException("volume " + volume + ": " + what + " failed: every replica is full");
            }
        }
        failures.forEach(this::fail);
        missedBy(List.copyOf(failures.keySet()), offset, length);
        if (!rwSucceeded) {
            throw noHealthy(what);
        }
        return result;
    }

    // ---- from one replica ----

    /** Runs {@code call} on one RW replica, the least loaded, moving on to the next on failure. */
    <T> T fromOne(String what, Function<ReplicaEndpoint, CompletableFuture<T>> call) throws IOException {
        return fromOne(what, call, new HashSet<>());
    }

    private <T> T fromOne(String what, Function<ReplicaEndpoint, CompletableFuture<T>> call, Set<Member> tried)
            throws IOException {
        while (true) {
            Member m = leastLoaded(what, tried);
            try {
                return send(m, call).join();
            } catch (CompletionException e) {
                failed(m, unwrap(e));
            }
        }
    }

    /** {@link #fromOne} without blocking; a failure tries the other replicas on a virtual thread. */
    <T> CompletableFuture<T> fromOneAsync(String what, Function<ReplicaEndpoint, CompletableFuture<T>> call) {
        Set<Member> tried = new HashSet<>(4);
        Member m;
        try {
            m = leastLoaded(what, tried);
        } catch (IOException e) {
            return CompletableFuture.failedFuture(e);
        }
        CompletableFuture<T> result = new CompletableFuture<>();
        var _ = send(m, call).whenComplete((v, e) -> {
            if (e == null) {
                result.complete(v);
            } else {
                slowly(result, () -> {
                    failed(m, unwrap(e));
                    return fromOne(what, call, tried);
                });
            }
        });
        return result;
    }

    private Member leastLoaded(String what, Set<Member> tried) throws NoHealthyReplicaException {
        Member m = null;
        for (Member c : members) {
            if (c.mode == Mode.RW && !tried.contains(c) && (m == null || c.outstanding.get() < m.outstanding.get())) {
                m = c;
            }
        }
        if (m == null) {
            throw noHealthy(what);
        }
        tried.add(m);
        return m;
    }

    /** A request to {@code m} failed: rethrows a request error, else fails the replica. */
    private void failed(Member m, Throwable cause) throws IOException {
        if (isRequestError(cause)) {
            throw asIo(cause);
        }
        fail(m, cause);
    }

    // ---- modes ----

    /**
     * Moves a replica to ERR (once) and closes its endpoint. Every caller closes it, even when another
     * thread already failed the replica: close returns only once no reply can touch a buffer any more,
     * and this caller is about to hand its buffer back or to another replica.
     */
    void fail(Member m, Throwable cause) {
        boolean first = false;
        boolean tracked = false;
        synchronized (modeLock) {
            if (m.mode.canBecome(Mode.ERR)) {
                tracked = intents.track(m.address()); // before writes may see ERR and skip it
                m.mode = Mode.ERR;
                m.reason = describe(cause);
                first = true;
            }
        }
        if (first) {
            log.warn("volume {}: replica {} is now ERR: {}", volume, m.address(), m.reason);
        }
        if (tracked) {
            intentsChanged.run();
        }
        m.endpoint.close();
    }

    NoHealthyReplicaException noHealthy(String what) {
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

    // ---- helpers ----

    @FunctionalInterface
    private interface Outcome<T> {
        T decide() throws IOException;
    }

    /** Decides {@code result} on a virtual thread: the slow path may close endpoints and wait for them. */
    private static <T> void slowly(CompletableFuture<T> result, Outcome<T> outcome) {
        Thread.ofVirtual().name("engine-failure").start(() -> {
            try {
                result.complete(outcome.decide());
            } catch (IOException | RuntimeException e) {
                result.completeExceptionally(e);
            }
        });
    }

    /** The request itself was wrong (a bad name, a buffer the caller may not share): no replica is to blame. */
    static boolean isRequestError(Throwable t) {
        return t instanceof SnapshotException
                || t instanceof IllegalArgumentException
                || t instanceof WrongThreadException;
    }

    static Throwable unwrap(Throwable t) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    static IOException asIo(Throwable t) {
        if (t instanceof IOException io) {
            return io;
        }
        if (t instanceof RuntimeException re) {
            throw re;
        }
        return new IOException(t);
    }

    static String describe(Throwable t) {
        if (t instanceof TimeoutException) {
            return "no answer within the engine-replica timeout";
        }
        if (t instanceof StaleEpochException) {
            return "fenced by a newer engine: " + t.getMessage();
        }
        return t.getMessage() == null ? t.toString() : t.getMessage();
    }
}
