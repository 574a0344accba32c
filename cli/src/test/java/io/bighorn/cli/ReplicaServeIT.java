package io.bighorn.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.bighorn.dataplane.replica.Replica;
import io.bighorn.dataplane.replica.SnapshotInfo;
import io.bighorn.dataplane.wire.ClusterSecret;
import io.bighorn.dataplane.wire.WireReplicaEndpoint;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code bighorn replica --dir ...} as a real child process, driven by the wire client. */
class ReplicaServeIT {
    private static final String SECRET = "it-secret";
    private static final Pattern SERVING = Pattern.compile("serving on (tcp://\\S+)(?: and (unix://\\S+))?");

    @TempDir
    Path tmp;

    private final List<Process> processes = new ArrayList<>();

    @AfterEach
    void stopProcesses() throws InterruptedException {
        for (Process p : processes) {
            p.destroyForcibly();
            p.waitFor(30, TimeUnit.SECONDS);
        }
    }

    /** Starts the server and returns the address its first line names. */
    private String serve(Path dir, Process[] started, String... extra) throws Exception {
        return servingLine(dir, started, extra).group(1);
    }

    private Matcher servingLine(Path dir, Process[] started, String... extra) throws Exception {
        Path jar = Path.of("target", "bighorn.jar").toAbsolutePath();
        assertThat(jar).exists();
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> command = new ArrayList<>(List.of(
                java,
                "-jar",
                jar.toString(),
                "replica",
                "--dir",
                dir.toString(),
                "--size",
                "64M",
                "--listen",
                "127.0.0.1:0"));
        command.addAll(List.of(extra));
        ProcessBuilder pb = new ProcessBuilder(command)
                .redirectError(tmp.resolve("stderr.txt").toFile());
        pb.environment().put(ClusterSecret.ENV, SECRET);
        Process p = pb.start();
        processes.add(p);
        started[0] = p;
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        String line = CompletableFuture.supplyAsync(() -> {
                    try {
                        return out.readLine();
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                })
                .get(60, TimeUnit.SECONDS);
        assertThat(line).as(() -> stderr()).isNotNull();
        Matcher m = SERVING.matcher(line);
        assertThat(m.find()).as(line).isTrue();
        return m;
    }

    @Test
    void alsoServesOnAUnixSocketAndReplacesTheOneAKilledProcessLeft() throws Exception {
        Path sock = tmp.resolve("r.sock");
        ClusterSecret secret = ClusterSecret.resolve(null, Map.of(ClusterSecret.ENV, SECRET));
        for (int round = 0; round < 2; round++) {
            Process[] p = new Process[1];
            Matcher line = servingLine(tmp.resolve("r"), p, "--socket", sock.toString());
            String tcp = line.group(1);
            assertThat(line.group(2)).isEqualTo("unix://" + sock.toAbsolutePath());
            try (Arena arena = Arena.ofShared();
                    WireReplicaEndpoint viaUnix = WireReplicaEndpoint.connect(line.group(2), secret);
                    WireReplicaEndpoint viaTcp = WireReplicaEndpoint.connect(tcp, secret)) {
                MemorySegment data = arena.allocate(64 << 10).fill((byte) (round + 1));
                viaUnix.acceptEpoch(round + 1).get(30, TimeUnit.SECONDS);
                viaUnix.write(round + 1, 0, data).get(30, TimeUnit.SECONDS);
                MemorySegment back = arena.allocate(64 << 10);
                viaTcp.read(0, back).get(30, TimeUnit.SECONDS);
                assertThat(back.mismatch(data)).isEqualTo(-1);
            }
            p[0].destroyForcibly(); // SIGKILL: the socket file stays behind
            assertThat(p[0].waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(sock).exists();
        }
    }

    /** The state letter of {@code /proc/PID/stat} (R, S, T for stopped, ...). */
    private static char processState(long pid) throws IOException {
        String stat = Files.readString(java.nio.file.Path.of("/proc", Long.toString(pid), "stat"));
        return stat.charAt(stat.lastIndexOf(')') + 2);
    }

    private String stderr() {
        try {
            return Files.readString(tmp.resolve("stderr.txt"));
        } catch (IOException e) {
            return e.toString();
        }
    }

    @Test
    void servesAReplicaAndItsDeathFailsPendingRequests() throws Exception {
        Process[] p = new Process[1];
        String address = serve(tmp.resolve("r"), p);
        try (Arena arena = Arena.ofShared();
                WireReplicaEndpoint endpoint = WireReplicaEndpoint.connect(
                        address, ClusterSecret.resolve(null, Map.of(ClusterSecret.ENV, SECRET)))) {
            MemorySegment data = arena.allocate(64 << 10);
            for (long i = 0; i < data.byteSize(); i++) {
                data.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) (i * 31));
            }
            endpoint.acceptEpoch(1).get(30, TimeUnit.SECONDS);
            endpoint.write(1, 1 << 20, data).get(30, TimeUnit.SECONDS);
            SnapshotInfo s = endpoint.snapshot("s1", true, Map.of("k", "v"), Instant.now())
                    .get(30, TimeUnit.SECONDS);
            assertThat(s.name()).isEqualTo("s1");
            MemorySegment back = arena.allocate(64 << 10);
            endpoint.read(1 << 20, back).get(30, TimeUnit.SECONDS);
            assertThat(back.mismatch(data)).isEqualTo(-1);
            assertThat(endpoint.info().get(30, TimeUnit.SECONDS).chain()).containsExactly("s1", Replica.HEAD_NAME);

            // freeze the server so requests are surely pending, then kill it
            long pid = p[0].pid();
            assertThat(new ProcessBuilder("kill", "-STOP", Long.toString(pid))
                            .start()
                            .waitFor())
                    .isZero();
            // SIGSTOP is delivered asynchronously: wait until the kernel reports the process stopped
            org.awaitility.Awaitility.await()
                    .atMost(java.time.Duration.ofSeconds(30))
                    .until(() -> processState(pid) == 'T');
            List<CompletableFuture<Void>> pending = new ArrayList<>();
            for (int i = 0; i < 50; i++) {
                pending.add(endpoint.read(0, arena.allocate(4096)));
            }
            assertThat(pending).noneMatch(CompletableFuture::isDone);
            p[0].destroyForcibly(); // SIGKILL
            for (CompletableFuture<Void> f : pending) {
                try {
                    f.get(10, TimeUnit.SECONDS);
                    throw new AssertionError("a request to a killed replica succeeded");
                } catch (ExecutionException e) {
                    assertThat(e.getCause()).isInstanceOf(IOException.class).hasMessageContaining(address);
                }
            }
        }
    }

    @Test
    void sigtermClosesTheReplicaCleanly() throws Exception {
        Path dir = tmp.resolve("r");
        Process[] p = new Process[1];
        String address = serve(dir, p);
        try (WireReplicaEndpoint endpoint = WireReplicaEndpoint.connect(address, ClusterSecret.of(SECRET))) {
            endpoint.acceptEpoch(7).get(30, TimeUnit.SECONDS);
        }
        p[0].destroy(); // SIGTERM
        assertThat(p[0].waitFor(30, TimeUnit.SECONDS)).isTrue();
        // the lock is released and the epoch was kept
        try (Replica r = Replica.open(dir)) {
            assertThat(r.epoch()).isEqualTo(7);
        }
        assertThat(stderr()).doesNotContain("Exception");
    }
}
