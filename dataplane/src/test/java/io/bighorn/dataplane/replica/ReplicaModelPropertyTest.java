package io.bighorn.dataplane.replica;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterProperty;

/**
 * Random sequences of every replica operation, checked against a plain in-memory model: after each step
 * and at the end every read matches the model byte for byte.
 */
class ReplicaModelPropertyTest {
    private static final int SECTOR = 512;
    private final List<Path> dirs = new ArrayList<>();

    sealed interface Op {}

    record Write(long at, int sectors, long seed) implements Op {}

    record Zero(long at, int sectors, boolean trim) implements Op {}

    record Snapshot() implements Op {}

    record Delete(int pick) implements Op {}

    record Purge() implements Op {}

    record Revert(int pick) implements Op {}

    record Expand(int blocks) implements Op {}

    record Reopen() implements Op {}

    @Provide
    Arbitrary<List<Op>> ops() {
        Arbitrary<Long> at = Arbitraries.longs().greaterOrEqual(0);
        Arbitrary<Op> write = Combinators.combine(at, Arbitraries.integers().between(1, 160), Arbitraries.longs())
                .as(Write::new);
        Arbitrary<Op> zero = Combinators.combine(
                        at, Arbitraries.integers().between(1, 2400), Arbitraries.of(true, false))
                .as(Zero::new);
        Arbitrary<Op> pick = Arbitraries.integers().between(0, 1000).map(Delete::new);
        Arbitrary<Op> revert = Arbitraries.integers().between(0, 1000).map(Revert::new);
        Arbitrary<Op> expand = Arbitraries.integers().between(0, 700).map(Expand::new);
        Arbitrary<Op> op = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(12, write),
                net.jqwik.api.Tuple.of(3, zero),
                net.jqwik.api.Tuple.of(3, Arbitraries.just(new Snapshot())),
                net.jqwik.api.Tuple.of(2, pick),
                net.jqwik.api.Tuple.of(2, Arbitraries.just(new Purge())),
                net.jqwik.api.Tuple.of(1, revert),
                net.jqwik.api.Tuple.of(1, expand),
                net.jqwik.api.Tuple.of(1, Arbitraries.just(new Reopen())));
        return op.list().ofMinSize(5).ofMaxSize(40);
    }

    @Property(tries = 60)
    void everyReadMatchesTheModel(@ForAll("ops") List<Op> ops, @ForAll("sizes") int initialBlocks) throws IOException {
        Path dir = Files.createTempDirectory("bighorn-model");
        dirs.add(dir);
        Model model = new Model(initialBlocks * 4096);
        Replica replica = Replica.create(dir.resolve("r"), model.head.length);
        try {
            int step = 0;
            for (Op op : ops) {
                replica = apply(op, replica, model, dir.resolve("r"), step++);
                assertSameContent(replica, model, op);
            }
            replica.close();
            replica = Replica.open(dir.resolve("r"));
            assertSameContent(replica, model, new Reopen());
            assertThat(replica.snapshots()).extracting(SnapshotInfo::name).containsAll(model.liveNames());
        } finally {
            replica.close();
        }
    }

    @Provide
    Arbitrary<Integer> sizes() {
        // a small volume, one chunk plus a few blocks, and a few chunks of the block map
        return Arbitraries.of(16, 515, 1100);
    }

    private static Replica apply(Op op, Replica replica, Model model, Path dir, int step) throws IOException {
        long size = model.head.length;
        switch (op) {
            case Write w -> {
                int len = (int) Math.min((long) w.sectors() * SECTOR, size);
                long at = Math.floorMod(w.at(), (size - len) / SECTOR + 1) * SECTOR;
                byte[] data = new byte[len];
                new Random(w.seed()).nextBytes(data);
                replica.write(1, at, ByteBuffer.wrap(data));
                System.arraycopy(data, 0, model.head, (int) at, len);
            }
            case Zero z -> {
                int len = (int) Math.min((long) z.sectors() * SECTOR, size);
                long at = Math.floorMod(z.at(), (size - len) / SECTOR + 1) * SECTOR;
                if (z.trim()) {
                    replica.trim(1, at, len);
                } else {
                    replica.writeZeroes(1, at, len);
                }
                Arrays.fill(model.head, (int) at, (int) at + len, (byte) 0);
            }
            case Snapshot s -> {
                String name = "s" + step;
                replica.snapshot(name, true, Map.of("step", Integer.toString(step)));
                model.snapshots.put(name, model.head.clone());
            }
            case Delete d -> {
                List<String> live = model.liveNames();
                if (!live.isEmpty()) {
                    String name = live.get(d.pick() % live.size());
                    replica.deleteSnapshot(name);
                    model.removed.put(name, true);
                }
            }
            case Purge p -> {
                List<String> gone = replica.purge();
                assertThat(gone).allSatisfy(n -> assertThat(model.removed).containsKey(n));
                for (String n : gone) {
                    model.snapshots.remove(n);
                }
            }
            case Revert r -> {
                List<String> live = model.liveNames();
                if (!live.isEmpty()) {
                    String name = live.get(r.pick() % live.size());
                    replica.revert(name);
                    byte[] snap = model.snapshots.get(name);
                    model.head = Arrays.copyOf(snap, model.head.length);
                }
            }
            case Expand e -> {
                long newSize = size + (long) e.blocks() * 4096;
                replica.expand(newSize);
                model.head = Arrays.copyOf(model.head, (int) newSize);
            }
            case Reopen r -> {
                replica.close();
                replica = Replica.open(dir);
            }
        }
        return replica;
    }

    private static void assertSameContent(Replica replica, Model model, Op after) throws IOException {
        assertThat(replica.size()).isEqualTo(model.head.length);
        ByteBuffer all = ByteBuffer.allocateDirect(model.head.length);
        replica.read(0, all);
        byte[] actual = new byte[model.head.length];
        all.flip().get(actual);
        if (!Arrays.equals(actual, model.head)) {
            int i = Arrays.mismatch(actual, model.head);
            throw new AssertionError("after " + after + ": byte " + i + " (block " + i / 4096 + ") is " + actual[i]
                    + ", the model has " + model.head[i]);
        }
    }

    /** The volume as bytes, and each snapshot as the bytes it froze. */
    static final class Model {
        byte[] head;
        final Map<String, byte[]> snapshots = new LinkedHashMap<>();
        final Map<String, Boolean> removed = new HashMap<>();

        Model(int size) {
            head = new byte[size];
        }

        List<String> liveNames() {
            List<String> live = new ArrayList<>();
            for (String n : snapshots.keySet()) {
                if (!removed.containsKey(n)) {
                    live.add(n);
                }
            }
            return live;
        }
    }

    @AfterProperty
    void cleanUp() throws IOException {
        for (Path d : dirs) {
            TestDirs.delete(d);
        }
        dirs.clear();
    }
}
