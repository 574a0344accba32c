package io.bighorn.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/**
 * Faults injected into a volume of real processes (three {@code bighorn replica} servers and a
 * {@code bighorn engine}) while real NBD clients (qemu-io, fio) use it: a replica that stops answering,
 * an engine killed mid-write, a second engine on the same replicas, and full disks (small tmpfs mounts,
 * so these tests need root, as they have here and in CI).
 */
class FaultIT {
    private static final Duration START = Duration.ofSeconds(60);
    private static final Duration RUN = Duration.ofMinutes(3);
    private static final Map<String, String> ENV = Map.of("BIGHORN_SECRET", "fault-it-secret");
    private static final long MIB = 1L << 20;
    private static final Pattern WROTE = Pattern.compile("wrote (\\d+)/\\d+ bytes at offset (\\d+)");

    @TempDir
    Path tmp;

    private Processes procs;
    private final List<Path> mounts = new ArrayList<>();

    /** One replica process: its directory and the URL it serves on. */
    private record Replica(Processes.Proc proc, Path dir, String url) {}

    /** One engine process: its NBD URL and control address. */
    private record Engine(Processes.Proc proc, String nbd, String control) {}

    @BeforeEach
    void logs(TestInfo info) throws IOException {
        Path logs = Path.of(
                "target",
                "it-logs",
                "FaultIT",
                info.getTestMethod().orElseThrow().getName());
        Files.createDirectories(logs);
        procs = new Processes(logs);
    }

    @AfterEach
    void stop() throws Exception {
        try {
            procs.close(); // first: no process may hold a file on a mount any more
        } finally {
            for (Path m : mounts.reversed()) {
                unmount(m);
            }
        }
    }

    // ---- 1. a replica that stops answering ----

    /**
     * A replica frozen with SIGSTOP while fio writes turns ERR after about the engine-replica timeout; fio
     * goes on and verifies without an error. After SIGCONT the replica process is fine, but the engine does
     * not take it back: it missed writes.
     */
    @Test
    void aStoppedReplicaTurnsErrWithinTheTimeoutAndStaysErrAfterItResumes() throws Exception {
        long size = 128 * MIB;
        int timeoutSeconds = 2;
        List<Replica> replicas = replicas(size, tmp.resolve("r1"), tmp.resolve("r2"), tmp.resolve("r3"));
        Engine engine = engine("engine", size, replicas, timeoutSeconds);
        Replica stopped = replicas.get(1);

        // rate-limited, so that the writes are still running when the replica stops and well after
        Processes.Proc fio = procs.tool("fio", fio(engine.nbd(), "64M", "16m", false));
        await().atMost(RUN)
                .pollInterval(Duration.ofMillis(100))
                .until(() -> Processes.allocated(stopped.dir()) > 4 * MIB);
        long t0 = System.nanoTime();
        stopped.proc().signal("STOP");
        String errLine = "replica " + stopped.url() + " is now ERR";
        await().atMost(Duration.ofSeconds(timeoutSeconds + 5))
                .pollInterval(Duration.ofMillis(20))
                .until(() -> engine.proc().output.toString().contains(errLine));
        Duration took = Duration.ofNanos(System.nanoTime() - t0);
        assertThat(took)
                .as("from SIGSTOP to ERR, with a %d s engine-replica timeout", timeoutSeconds)
                .isBetween(Duration.ofMillis(timeoutSeconds * 500L), Duration.ofSeconds(timeoutSeconds + 3));
        assertThat(fio.process.isAlive())
                .as("fio still writing when the replica turned ERR")
                .isTrue();

        assertThat(fio.exit(RUN)).as("fio output:%n%s", fio.output).isZero();
        assertThat(fio.output.toString()).contains("err= 0");
        JsonNode states = ctl(engine, "replicas");
        assertThat(modes(states)).containsExactly("RW", "ERR", "RW");
        assertThat(states.get(1).get("reason").asText()).isEqualTo("no answer within the engine-replica timeout");

        stopped.proc().signal("CONT");
        // the replica runs again and the volume gets more I/O: reads that verify fio's data, and writes
        run("fio-verify", fio(engine.nbd(), "64M", null, true));
        qemuIo("qemu-io-after", engine.nbd(), List.of("write -P 0x5c 100M 4M", "flush", "read -P 0x5c 100M 4M"));
        assertThat(stopped.proc().process.isAlive())
                .as("the resumed replica process")
                .isTrue();
        states = ctl(engine, "replicas");
        assertThat(modes(states))
                .as("the resumed replica is not readmitted: %s", states)
                .containsExactly("RW", "ERR", "RW");

        // only a catch-up brings it back: its data is intact, so only the regions it missed are compared
        JsonNode caughtUp = ctl(engine, "add-replica", stopped.url(), "--wait");
        assertThat(caughtUp.get("mode").asText()).isEqualTo("catch-up");
        assertThat(caughtUp.get("state").asText()).isEqualTo("done");
        assertThat(modes(ctl(engine, "replicas"))).containsExactly("RW", "RW", "RW");
        run("fio-verify-after", fio(engine.nbd(), "64M", null, true));
        qemuIo("qemu-io-caught-up", engine.nbd(), List.of("read -P 0x5c 100M 4M"));
        assertThat(engine.proc().stop(RUN))
                .as("engine stops on SIGTERM, flushing")
                .isEqualTo(143);
        List<String> sums = procs.checksums(replicas.stream().map(Replica::dir).toList());
        assertThat(sums).as("the three replicas hold the same bytes").containsOnly(sums.getFirst());
    }

    // ---- 2. the engine killed mid-write ----

    /**
     * qemu-io writes distinct patterns, a flush after every four, and the engine is killed with SIGKILL in
     * the middle. An engine restarted on the same replicas serves every write qemu-io saw acknowledged: the
     * flushed ones, and, since the replicas outlived the engine, the acknowledged but unflushed ones too.
     */
    @Test
    void anEngineKilledMidWriteLosesNoAcknowledgedWrite() throws Exception {
        long size = 64 * MIB;
        int regionSize = 256 << 10;
        int regions = (int) (size / regionSize);
        int writes = 4 * regions;
        List<Replica> replicas = replicas(size, tmp.resolve("r1"), tmp.resolve("r2"), tmp.resolve("r3"));
        Engine first = engine("engine-1", size, replicas, 4);

        List<String> commands = new ArrayList<>();
        for (int i = 0; i < writes; i++) {
            commands.add("write -P " + pattern(i) + " " + region(i, regions) * regionSize + " " + regionSize);
            if (i % 4 == 3) {
                commands.add("flush");
            }
        }
        Processes.Proc writer = procs.tool("qemu-io", qemuIoCommand(first.nbd(), commands));
        await().atMost(RUN)
                .pollInterval(Duration.ofMillis(10))
                .until(() -> acknowledged(writer).size() >= writes / 4);
        first.proc().kill(); // SIGKILL
        assertThat(first.proc().exit(START)).isEqualTo(137);
        assertThat(writer.exit(RUN))
                .as("qemu-io fails once the engine is gone; output:%n%s", writer.output)
                .isNotZero();

        // qemu-io runs its commands in order: the acknowledged writes are the first ones
        List<Long> acked = acknowledged(writer);
        int n = acked.size();
        assertThat(n).as("writes acknowledged before the kill").isBetween(writes / 4, writes - 1);
        for (int i = 0; i < n; i++) {
            assertThat(acked.get(i)).as("offset of write %d", i).isEqualTo(region(i, regions) * regionSize);
        }
        int flushed = n / 4 * 4; // write n-1 started, so every flush before it returned
        assertThat(flushed).as("writes a completed flush covers").isGreaterThanOrEqualTo(writes / 4);
        Map<Integer, Integer> expected = new LinkedHashMap<>(); // region -> the pattern its last write put there
        for (int i = 0; i < n; i++) {
            expected.put(region(i, regions), pattern(i));
        }
        expected.remove(region(n, regions)); // write n may have been in flight: either content is right

        Engine second = engine("engine-2", size, replicas, 4);
        List<String> reads = new ArrayList<>();
        expected.forEach((r, p) -> reads.add("read -P " + p + " " + (long) r * regionSize + " " + regionSize));
        qemuIo("qemu-io-verify", second.nbd(), reads);
        JsonNode info = ctl(second, "info");
        assertThat(info.get("epoch").asLong()).isEqualTo(2);
        assertThat(modes(info.get("replicas"))).contains("RW");
    }

    private static int pattern(int write) {
        return 1 + write % 251;
    }

    /** The region write {@code i} goes to: every region once per round, in a scattered order. */
    private static int region(int i, int regions) {
        return (i * 37) % regions;
    }

    /** The offsets of the writes qemu-io reported done, in order. */
    private static List<Long> acknowledged(Processes.Proc qemuIo) {
        List<Long> offsets = new ArrayList<>();
        Matcher m = WROTE.matcher(qemuIo.output.toString());
        while (m.find()) {
            offsets.add(Long.parseLong(m.group(2)));
        }
        return offsets;
    }

    // ---- 3. two engines on one volume ----

    /**
     * A second engine started on the same replicas while the first still runs takes a higher epoch: every
     * write through the first then fails at its client with an I/O error, and none of them reaches the
     * replicas.
     */
    @Test
    void aSecondEngineFencesTheFirst() throws Exception {
        long size = 64 * MIB;
        List<Replica> replicas = replicas(size, tmp.resolve("r1"), tmp.resolve("r2"), tmp.resolve("r3"));
        Engine a = engine("engine-a", size, replicas, 4);
        qemuIo("qemu-io-a", a.nbd(), List.of("write -P 0x11 0 1M", "write -P 0x33 8M 1M"));

        Engine b = engine("engine-b", size, replicas, 4);
        Processes.Proc late = procs.tool(
                "qemu-io-a-late",
                qemuIoCommand(a.nbd(), List.of("write -P 0x22 0 1M", "write -P 0x44 8M 64k", "write -z 16M 1M")));
        assertThat(late.exit(RUN))
                .as("qemu-io through the fenced engine; output:%n%s", late.output)
                .isNotZero();
        String out = late.output.toString();
        assertThat(out).doesNotContain("wrote");
        assertThat(Pattern.compile("write failed: Input/output error")
                        .matcher(out)
                        .results())
                .as("every write through the fenced engine fails with EIO; output:%n%s", out)
                .hasSize(3);

        qemuIo("qemu-io-b", b.nbd(), List.of("read -P 0x11 0 1M", "read -P 0x33 8M 1M", "read -P 0 16M 1M"));
        JsonNode fenced = ctl(a, "replicas");
        assertThat(modes(fenced)).containsOnly("ERR");
        assertThat(fenced).allSatisfy(r -> assertThat(r.get("reason").asText()).contains("fenced by a newer engine"));
        assertThat(a.proc().process.isAlive())
                .as("the fenced engine still runs")
                .isTrue();
        JsonNode info = ctl(b, "info");
        assertThat(info.get("epoch").asLong()).isEqualTo(2);
        assertThat(modes(info.get("replicas"))).containsOnly("RW");
        qemuIo("qemu-io-b-write", b.nbd(), List.of("write -P 0x55 0 1M", "read -P 0x55 0 1M"));
    }

    // ---- 4. full disks ----

    /** One replica on a small tmpfs fills up and turns ERR; the volume goes on serving from the other two. */
    @Test
    void aReplicaWhoseDiskFillsTurnsErrAndTheVolumeKeepsServing() throws Exception {
        long size = 64 * MIB;
        Path small = tmpfs("small", "16m");
        List<Replica> replicas = replicas(size, small.resolve("r1"), tmp.resolve("r2"), tmp.resolve("r3"));
        Engine engine = engine("engine", size, replicas, 4);

        int chunks = 40; // MiB, well beyond the 16 MiB the first replica has
        List<String> writes = new ArrayList<>();
        List<String> reads = new ArrayList<>();
        for (int i = 0; i < chunks; i++) {
            writes.add("write -P " + (i + 1) + " " + i + "M 1M");
            reads.add("read -P " + (i + 1) + " " + i + "M 1M");
        }
        qemuIo("qemu-io-write", engine.nbd(), writes);
        JsonNode states = ctl(engine, "replicas");
        assertThat(modes(states)).containsExactly("ERR", "RW", "RW");
        assertThat(states.get(0).get("reason").asText()).contains("no space left on device");
        qemuIo("qemu-io-verify", engine.nbd(), reads);
        assertThat(replicas.getFirst().proc().process.isAlive()).isTrue();
    }

    /**
     * Every replica on a small tmpfs: when they fill up the client gets ENOSPC and no replica is failed;
     * what was written before reads back, and once a trim through NBD frees space, writes succeed again.
     */
    @Test
    void whenEveryReplicaIsFullWritesFailWithEnospcAndResumeOnceSpaceIsFreed() throws Exception {
        long size = 64 * MIB;
        List<Path> dirs = new ArrayList<>();
        for (int i = 1; i <= 3; i++) {
            dirs.add(tmpfs("small" + i, "16m").resolve("r" + i));
        }
        List<Replica> replicas = replicas(size, dirs.toArray(Path[]::new));
        Engine engine = engine("engine", size, replicas, 4);

        int chunks = 32; // MiB, twice what each replica has
        List<String> writes = new ArrayList<>();
        for (int i = 0; i < chunks; i++) {
            writes.add("write -P " + (i + 1) + " " + i + "M 1M");
        }
        Processes.Proc full = procs.tool("qemu-io-fill", qemuIoCommand(engine.nbd(), writes));
        assertThat(full.exit(RUN)).as("qemu-io output:%n%s", full.output).isNotZero();
        assertThat(full.output.toString()).contains("write failed: No space left on device");
        List<Long> done = acknowledged(full);
        int written = done.size();
        assertThat(written).as("MiB written before the disks filled").isBetween(8, 15);
        for (int i = 0; i < written; i++) {
            assertThat(done.get(i)).isEqualTo(i * MIB);
        }
        assertThat(modes(ctl(engine, "replicas")))
                .as("a full disk fails no replica")
                .containsOnly("RW");

        List<String> reads = new ArrayList<>();
        for (int i = 0; i < written; i++) {
            reads.add("read -P " + (i + 1) + " " + i + "M 1M");
        }
        qemuIo("qemu-io-verify", engine.nbd(), reads);

        // a trim of the first 4 MiB gives their space back: 4 MiB more can be written where writes failed
        List<String> resume = new ArrayList<>(List.of("discard 0 4M"));
        for (int i = written; i < written + 4; i++) {
            resume.add("write -P 0x" + Integer.toHexString(0xa0 + i) + " " + i + "M 1M");
        }
        qemuIo("qemu-io-resume", engine.nbd(), resume);
        List<String> check = new ArrayList<>(List.of("read -P 0 0 4M"));
        for (int i = 4; i < written; i++) {
            check.add("read -P " + (i + 1) + " " + i + "M 1M");
        }
        for (int i = written; i < written + 4; i++) {
            check.add("read -P 0x" + Integer.toHexString(0xa0 + i) + " " + i + "M 1M");
        }
        qemuIo("qemu-io-check", engine.nbd(), check);
        assertThat(modes(ctl(engine, "replicas"))).containsOnly("RW");
    }

    // ---- processes ----

    private List<Replica> replicas(long size, Path... dirs) throws Exception {
        List<Processes.Proc> started = new ArrayList<>();
        for (int i = 0; i < dirs.length; i++) {
            started.add(procs.bighorn(
                    "replica" + (i + 1),
                    ENV,
                    "replica",
                    "--dir",
                    dirs[i].toString(),
                    "--size",
                    Long.toString(size),
                    "--listen",
                    "127.0.0.1:0"));
        }
        List<Replica> replicas = new ArrayList<>();
        for (int i = 0; i < dirs.length; i++) {
            Processes.Proc p = started.get(i);
            replicas.add(new Replica(p, dirs[i], p.await("serving on (tcp://\\S+)", START)));
        }
        return replicas;
    }

    private Engine engine(String name, long size, List<Replica> replicas, int timeoutSeconds) throws Exception {
        List<String> args = new ArrayList<>(List.of("engine", "--volume", "vol0", "--size", Long.toString(size)));
        for (Replica r : replicas) {
            args.add("--replica");
            args.add(r.url());
        }
        args.addAll(List.of(
                "--nbd", "127.0.0.1:0", "--control", "127.0.0.1:0", "--timeout", Integer.toString(timeoutSeconds)));
        Processes.Proc p = procs.bighorn(name, ENV, args.toArray(String[]::new));
        String line = p.await("serving (nbd://\\S+, control on \\S+)", START);
        return new Engine(p, line.substring(0, line.indexOf(',')), line.substring(line.lastIndexOf(' ') + 1));
    }

    private JsonNode ctl(Engine engine, String... args) throws Exception {
        return procs.ctl(engine.control(), args);
    }

    private static List<String> modes(JsonNode replicas) {
        List<String> modes = new ArrayList<>();
        replicas.forEach(r -> modes.add(r.get("mode").asText()));
        return modes;
    }

    private void run(String name, String... command) throws Exception {
        Processes.Proc p = procs.tool(name, command);
        assertThat(p.exit(RUN)).as("%s exit code; output:%n%s", name, p.output).isZero();
    }

    /** Runs qemu-io's {@code commands} on {@code nbd}; every one must succeed (reads with -P verify). */
    private void qemuIo(String name, String nbd, List<String> commands) throws Exception {
        Processes.Proc p = procs.tool(name, qemuIoCommand(nbd, commands));
        assertThat(p.exit(RUN)).as("%s exit code; output:%n%s", name, p.output).isZero();
        assertThat(p.output.toString()).as("%s output", name).doesNotContain("failed");
    }

    private static String[] qemuIoCommand(String nbd, List<String> commands) {
        List<String> args = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
        for (String c : commands) {
            args.add("-c");
            args.add(c);
        }
        args.add(nbd);
        return args.toArray(String[]::new);
    }

    /** fio's random 4 KiB writes with crc32c verification; {@code rate} limits the writes (null: none). */
    private static String[] fio(String nbd, String size, String rate, boolean verifyOnly) {
        List<String> extra = new ArrayList<>();
        if (rate != null) {
            extra.add("--rate=" + rate);
        }
        if (verifyOnly) {
            extra.add("--verify_only");
        }
        return Processes.fioVerify(nbd, size, extra.toArray(String[]::new));
    }

    // ---- tmpfs mounts ----

    /** Mounts a tmpfs of {@code size} (mount's syntax: 16m) on a new directory; unmounted after the test. */
    private Path tmpfs(String name, String size) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve(name));
        String out = sh("mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", dir.toString());
        if (out != null) {
            throw new AssertionError("FaultIT's disk-full tests mount a small tmpfs and so need root"
                    + " (CAP_SYS_ADMIN); mount -t tmpfs on " + dir + " failed: " + out);
        }
        mounts.add(dir);
        return dir;
    }

    private static void unmount(Path dir) throws Exception {
        String out = sh("umount", dir.toString());
        if (out != null) {
            String lazy = sh("umount", "-l", dir.toString());
            throw new AssertionError("umount " + dir + " failed: " + out
                    + (lazy == null ? " (detached it with umount -l)" : "; umount -l failed too: " + lazy));
        }
    }

    /** Runs a system command; returns null when it succeeds, else its exit code and output. */
    private static String sh(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int code = p.waitFor();
        return code == 0 ? null : "exit " + code + ": " + out.strip();
    }
}
