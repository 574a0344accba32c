package io.bighorn.dataplane.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Races between chain operations and a newly accepted epoch, and a long mixed sequence.
 *
 * <p>A chain operation builds its next {@code volume.json} from the chain it read earlier; an epoch
 * accepted meanwhile ({@code acceptEpoch}, or a write carrying a higher epoch) must survive its commit, or
 * a fenced engine could write again. The tests make the interleaving deterministic by holding the
 * replica's {@code metaLock} monitor (reflection, test-only) until the operation's thread is blocked in
 * {@code commit} with its copy, then accepting the higher epoch from the lock holder (the monitor is
 * re-entrant), then letting the operation finish.
 */
class ReplicaRaceTest {
    private static final int MiB = 1 << 20;

    @TempDir
    Path tmp;

    /** The realistic case: purge runs beside I/O without ioLock, so a write with a new epoch slips in. */
    @Test
    void purgeOfARemovedLeafLosesAnEpochAcceptedByAConcurrentWrite() throws Exception {
        Path dir = tmp.resolve("r");
        try (Replica r = Replica.create(dir, MiB)) {
            r.write(1, 0, ReplicaTest.filled(4096, 1));
            r.snapshot("a", true, Map.of());
            r.snapshot("b", true, Map.of());
            r.revert("a"); // b is now a leaf on a dead branch
            r.deleteSnapshot("b");

            whileBlockedInCommit(r, r::purge, () -> r.write(5, 4096, ReplicaTest.filled(4096, 2)));

            assertThat(r.snapshots()).extracting(SnapshotInfo::name).containsExactly("a");
            assertThat(r.epoch())
                    .as("epoch accepted by the write during the purge")
                    .isEqualTo(5);
            // the engine of epoch 1 has been fenced off by epoch 5; its writes must be refused
            assertThatThrownBy(() -> r.write(1, 0, ReplicaTest.filled(4096, 9)))
                    .isInstanceOf(StaleEpochException.class);
        }
        try (Replica r = Replica.open(dir)) {
            assertThat(r.epoch()).isEqualTo(5);
        }
    }

    /** The chain operations that commit {@code volume.json} while an epoch may be accepted meanwhile. */
    enum ChainOp {
        SNAPSHOT,
        REVERT,
        EXPAND
    }

    /** Each once lost an epoch accepted while it committed: its commit wrote the epoch it had read before. */
    @ParameterizedTest
    @EnumSource(ChainOp.class)
    void anEpochAcceptedWhileAChainOperationCommitsIsKept(ChainOp op) throws Exception {
        Path dir = tmp.resolve("r");
        try (Replica r = Replica.create(dir, MiB)) {
            r.write(1, 0, ReplicaTest.filled(4096, 1));
            if (op == ChainOp.REVERT) {
                r.snapshot("s", true, Map.of());
            }
            Action run = switch (op) {
                case SNAPSHOT -> () -> r.snapshot("s", true, Map.of());
                case REVERT -> () -> r.revert("s");
                case EXPAND -> () -> r.expand(2L * MiB);
            };
            whileBlockedInCommit(r, run, () -> r.acceptEpoch(5));
            if (op == ChainOp.EXPAND) {
                assertThat(r.size()).isEqualTo(2L * MiB);
            }
            assertThat(r.epoch()).isEqualTo(5);
        }
        try (Replica r = Replica.open(dir)) {
            assertThat(r.epoch()).isEqualTo(5);
        }
    }

    /**
     * Trims through a run of removed snapshots
     * under the head, four deletes then one purge (a chain of merges ending in a prune), expand then snapshot then
     * revert to an older, smaller snapshot, with reopens in between, all checked against a byte model.
     */
    @Test
    void trimThroughRemovedRunPurgeExpandRevertReopen() throws Exception {
        Path dir = tmp.resolve("r");
        int size = 16 * 4096;
        byte[] model = new byte[size];
        Replica r = Replica.create(dir, size);
        try {
            byte[] a = ReplicaTest.random(size, 1);
            r.write(1, 0, ByteBuffer.wrap(a));
            System.arraycopy(a, 0, model, 0, size);
            r.snapshot("keep", true, Map.of());
            byte[] keep = model.clone();
            for (int i = 0; i < 4; i++) { // four removed layers, each with a different block pattern
                byte[] d = ReplicaTest.random(4096 * (1 + i), 10 + i);
                r.write(1, 4096L * i + 512, ByteBuffer.wrap(d, 0, d.length - 1024));
                System.arraycopy(d, 0, model, 4096 * i + 512, d.length - 1024);
                r.snapshot("d" + i, true, Map.of());
            }
            for (int i = 0; i < 4; i++) {
                r.deleteSnapshot("d" + i);
            }
            r.trim(1, 4096, 8 * 4096); // through the removed run, onto "keep"
            Arrays.fill(model, 4096, 9 * 4096, (byte) 0);
            r.writeZeroes(1, 512, 3 * 512); // partial
            Arrays.fill(model, 512, 2048, (byte) 0);
            assertThat(ReplicaTest.readAll(r)).isEqualTo(model);
            r.purge();
            r = reopenAndCheck(r, dir, model);
            r.expand(2L * size);
            model = Arrays.copyOf(model, 2 * size);
            byte[] tail = ReplicaTest.random(4096, 99);
            r.write(1, size + 4096, ByteBuffer.wrap(tail));
            System.arraycopy(tail, 0, model, size + 4096, 4096);
            r.snapshot("big", true, Map.of());
            r = reopenAndCheck(r, dir, model);
            r.revert("keep"); // older and smaller than the volume now
            model = Arrays.copyOf(keep, 2 * size);
            r = reopenAndCheck(r, dir, model);
            r.deleteSnapshot("big");
            r.purge();
            r = reopenAndCheck(r, dir, model);
            assertThat(r.snapshots()).extracting(SnapshotInfo::name).containsExactly("keep");
        } finally {
            r.close();
        }
    }

    private static Replica reopenAndCheck(Replica r, Path dir, byte[] model) throws Exception {
        assertThat(ReplicaTest.readAll(r)).isEqualTo(model);
        r.close();
        Replica reopened = Replica.open(dir);
        assertThat(ReplicaTest.readAll(reopened)).isEqualTo(model);
        return reopened;
    }

    // ---- helpers ----

    @FunctionalInterface
    interface Action {
        void run() throws Exception;
    }

    /**
     * Runs {@code op} on a new thread while this thread holds the replica's metaLock; once {@code op} is
     * blocked entering {@code Replica.commit} (its next meta already computed), runs {@code meanwhile} on
     * this thread (metaLock is re-entrant), then lets {@code op} finish.
     */
    private static void whileBlockedInCommit(Replica r, Action op, Action meanwhile) throws Exception {
        Object metaLock = field(r, "metaLock");
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                op.run();
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        synchronized (metaLock) {
            t.start();
            long deadline = System.nanoTime() + 4_000_000_000L;
            while (!(t.getState() == Thread.State.BLOCKED && inCommit(t))) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("operation never reached Replica.commit: " + t.getState() + " "
                            + Arrays.toString(t.getStackTrace()));
                }
                Thread.onSpinWait();
            }
            meanwhile.run();
        }
        t.join(5000);
        assertThat(t.isAlive()).isFalse();
        if (failure.get() != null) {
            throw new AssertionError("the operation failed", failure.get());
        }
    }

    private static boolean inCommit(Thread t) {
        for (StackTraceElement e : t.getStackTrace()) {
            if (e.getClassName().equals(Replica.class.getName())
                    && e.getMethodName().equals("commit")) {
                return true;
            }
        }
        return false;
    }

    private static Object field(Object o, String name) throws ReflectiveOperationException {
        Field f = o.getClass().getDeclaredField(name);
        f.setAccessible(true);
        return f.get(o);
    }
}
