package io.bighorn.dataplane.replica;

import static io.bighorn.dataplane.replica.CrashChild.BLOCK;
import static io.bighorn.dataplane.replica.CrashChild.SIZE;
import static io.bighorn.dataplane.replica.CrashChild.pattern;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Kills a child JVM with SIGKILL in the middle of each chain operation (at named crash points) and of
 * flushed writes, then checks that the replica reopens holding the before or the after state, with
 * every flushed write present, and still works.
 */
class ReplicaCrashIT {
    @TempDir
    Path tmp;

    static Stream<Arguments> crashes() {
        return Stream.of(
                Arguments.of("snapshot", "meta.beforeRename:layer-", 1),
                Arguments.of("snapshot", "meta.beforeRename:layer-", 2),
                Arguments.of("snapshot", "snapshot.beforeCommit", 1),
                Arguments.of("snapshot", "meta.beforeRename:volume.json", 1),
                Arguments.of("snapshot", "snapshot.afterCommit", 1),
                Arguments.of("purge", "purge.afterCopy", 1),
                Arguments.of("purge", "meta.beforeRename:layer-", 1),
                Arguments.of("purge", "purge.beforeCommit", 1),
                Arguments.of("purge", "meta.beforeRename:volume.json", 1),
                Arguments.of("revert", "revert.beforeCommit", 1),
                Arguments.of("revert", "meta.beforeRename:volume.json", 1),
                Arguments.of("expand", "expand.beforeCommit", 1),
                Arguments.of("expand", "meta.beforeRename:volume.json", 1),
                Arguments.of("expand", "expand.afterCommit", 1),
                Arguments.of("delete", "meta.beforeRename:layer-", 1),
                Arguments.of("writes", "FLUSHED", 20),
                Arguments.of("writes", "FLUSHED", 150));
    }

    @ParameterizedTest(name = "{0} killed at {1} #{2}")
    @MethodSource("crashes")
    void aKilledOperationLeavesTheBeforeOrTheAfterState(String op, String point, int hit) throws Exception {
        Path dir = tmp.resolve("r");
        assertThat(runChild(dir, "setup", null, 0).completed).isTrue();
        byte[] before = headAfterSetUp();
        ChildRun run = runChild(dir, op, point, hit);
        assertThat(run.completed)
                .as("the child reached %s and was killed", point)
                .isFalse();

        try (Replica r = Replica.open(dir)) {
            byte[] now = ReplicaTest.readAll(r);
            List<String> names = r.snapshots().stream().map(SnapshotInfo::name).toList();
            switch (op) {
                case "snapshot" -> assertThat(now).isEqualTo(before);
                case "purge" -> {
                    assertThat(now).isEqualTo(before);
                    assertThat(names).contains("b");
                }
                case "revert" -> assertThat(now).isIn(before, snapshotB());
                case "expand" -> {
                    assertThat(r.size()).isIn(SIZE, 2 * SIZE);
                    assertThat(Arrays.copyOf(now, (int) SIZE)).isEqualTo(before);
                    assertThat(Arrays.copyOfRange(now, (int) SIZE, now.length))
                            .isEqualTo(new byte[now.length - (int) SIZE]);
                }
                case "delete" -> assertThat(now).isEqualTo(before);
                case "writes" -> checkWrites(now, before, run.lastFlushed);
                default -> throw new IllegalArgumentException(op);
            }
            // the replica still works: every kept snapshot reads as it was, and new operations succeed
            if (names.contains("b")
                    && r.snapshots().stream().noneMatch(s -> s.name().equals("b") && s.removed())) {
                r.revert("b");
                assertThat(Arrays.copyOf(ReplicaTest.readAll(r), (int) SIZE)).isEqualTo(snapshotB());
            }
            r.write(1, 0, ByteBuffer.wrap(pattern(7, BLOCK)));
            r.snapshot("after-crash", true, Map.of());
            r.purge();
        }
        try (Replica r = Replica.open(dir)) {
            assertThat(Arrays.copyOf(ReplicaTest.readAll(r), BLOCK)).isEqualTo(pattern(7, BLOCK));
        }
    }

    private static void checkWrites(byte[] now, byte[] before, int lastFlushed) {
        assertThat(lastFlushed).isGreaterThanOrEqualTo(0);
        for (int i = 0; i < SIZE / BLOCK; i++) {
            byte[] block = Arrays.copyOfRange(now, i * BLOCK, (i + 1) * BLOCK);
            byte[] written = pattern(100 + i, BLOCK);
            if (i <= lastFlushed) {
                assertThat(block).as("flushed block %d", i).isEqualTo(written);
            } else {
                assertThat(block)
                        .as("unflushed block %d", i)
                        .isIn(written, Arrays.copyOfRange(before, i * BLOCK, (i + 1) * BLOCK));
            }
        }
    }

    /** The head as {@link CrashChild#setUp} leaves it. */
    private static byte[] headAfterSetUp() {
        byte[] head = snapshotB();
        int at = (int) SIZE / 8;
        System.arraycopy(pattern(3, BLOCK * 16), 0, head, at, BLOCK * 16);
        return head;
    }

    private static byte[] snapshotB() {
        byte[] b = new byte[(int) SIZE];
        System.arraycopy(pattern(1, (int) SIZE / 2), 0, b, 0, (int) SIZE / 2);
        System.arraycopy(pattern(2, (int) SIZE / 4), 0, b, (int) SIZE / 4, (int) SIZE / 4);
        return b;
    }

    private record ChildRun(boolean completed, int lastFlushed) {}

    /** Runs the child; kills it with SIGKILL when it prints the crash point (or the hit-th FLUSHED line). */
    private static ChildRun runChild(Path dir, String op, String point, int hit) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> command = new ArrayList<>(List.of(
                java, "--enable-native-access=ALL-UNNAMED", "-Xmx256m", "-cp", System.getProperty("java.class.path")));
        if (point != null && !point.equals("FLUSHED")) {
            command.add("-Dbighorn.crashAt=" + point);
            command.add("-Dbighorn.crashAtHit=" + hit);
        }
        command.addAll(List.of(CrashChild.class.getName(), dir.toString(), op));
        Process child = new ProcessBuilder(command).redirectErrorStream(true).start();
        int lastFlushed = -1;
        int flushes = 0;
        List<String> output = new ArrayList<>();
        try (BufferedReader out =
                new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = out.readLine()) != null) {
                output.add(line);
                if (line.startsWith("FLUSHED ")) {
                    lastFlushed = Integer.parseInt(line.substring(8));
                    if ("FLUSHED".equals(point) && ++flushes == hit) {
                        break;
                    }
                }
                if (line.startsWith("CRASH-POINT")) {
                    break;
                }
                if (line.equals("DONE")) {
                    assertThat(child.waitFor(60, TimeUnit.SECONDS)).isTrue();
                    return new ChildRun(true, lastFlushed);
                }
            }
            if (line == null) {
                child.waitFor(60, TimeUnit.SECONDS);
                throw new AssertionError("child ended without reaching " + point + ": " + output);
            }
            child.destroyForcibly(); // SIGKILL
            assertThat(child.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(child.exitValue()).isEqualTo(137);
            return new ChildRun(false, lastFlushed);
        } finally {
            child.destroyForcibly();
            child.waitFor(60, TimeUnit.SECONDS);
        }
    }
}
