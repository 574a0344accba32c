package io.bighorn.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/**
 * A replicated volume end to end with real processes: three {@code bighorn replica} servers, a
 * {@code bighorn engine} in front of them, and real NBD clients (qemu-img, qemu-io, nbdcopy, nbdinfo,
 * fio's nbd engine).
 */
class VolumeIT {
    private static final Duration START = Duration.ofSeconds(60);
    private static final long SIZE = 256L << 20;
    private static final Map<String, String> ENV = Map.of("BIGHORN_SECRET", "volume-it-secret");

    @TempDir
    Path tmp;

    private Processes procs;
    private final List<String> replicaUrls = new ArrayList<>();
    private final List<Processes.Proc> replicas = new ArrayList<>();
    private Processes.Proc engine;
    private String nbd;
    private String control;

    @BeforeEach
    void start(TestInfo info) throws Exception {
        Path logs =
                Path.of("target", "it-logs", info.getTestMethod().orElseThrow().getName());
        Files.createDirectories(logs);
        procs = new Processes(logs);
        for (int i = 1; i <= 3; i++) {
            replicas.add(procs.replica("replica" + i, ENV, tmp.resolve("r" + i), SIZE, "127.0.0.1:0"));
        }
        for (Processes.Proc r : replicas) {
            replicaUrls.add(r.await("serving on (tcp://\\S+)", START));
        }
        startEngine();
    }

    private void startEngine() throws Exception {
        Processes.Engine e = procs.engine("engine", ENV, SIZE, replicaUrls, 4);
        engine = e.proc();
        nbd = e.nbd();
        control = e.control();
    }

    @AfterEach
    void stop() throws IOException {
        procs.close();
    }

    private void run(String name, String... command) throws Exception {
        Processes.Proc p = procs.tool(name, command);
        int code = p.exit(Duration.ofMinutes(5));
        assertThat(code).as("%s exit code; output:%n%s", name, p.output).isZero();
    }

    private JsonNode ctl(String... args) throws Exception {
        return procs.ctl(control, args);
    }

    @Test
    void realClientsWriteAndReadTheVolume() throws Exception {
        Path image = tmp.resolve("random.img");
        byte[] data = new byte[(int) SIZE];
        new Random(42).nextBytes(data);
        Files.write(image, data);
        run("qemu-img-in", "qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", image.toString(), nbd);
        Path back = tmp.resolve("back.img");
        run("qemu-img-out", "qemu-img", "convert", "-f", "raw", "-O", "raw", nbd, back.toString());
        assertThat(Files.mismatch(image, back))
                .as("round trip through the volume")
                .isEqualTo(-1);

        run("qemu-io", "qemu-io", "-f", "raw", "-c", "write -P 0xab 1M 1M", "-c", "read -P 0xab 1M 1M", nbd);
        run("nbdcopy", "nbdcopy", nbd, tmp.resolve("copy.img").toString());
        byte[] copy = Files.readAllBytes(tmp.resolve("copy.img"));
        assertThat(copy[(1 << 20) + 7]).isEqualTo((byte) 0xab);
        assertThat(copy[5 << 20]).isEqualTo(data[5 << 20]);

        Processes.Proc list = procs.tool("nbdinfo-list", "nbdinfo", "--list", nbd);
        assertThat(list.exit(START)).isZero();
        assertThat(list.output.toString()).contains("export=\"vol0\"").contains("can_multi_conn: true");

        run("qemu-io-trim", "qemu-io", "-f", "raw", "-c", "discard 0 64M", nbd);
        Processes.Proc map = procs.tool("nbdinfo-map", "nbdinfo", "--map", nbd);
        assertThat(map.exit(START)).isZero();
        assertThat(map.output.toString()).contains("hole").contains("data");
    }

    @Test
    void fioVerifiesAndTheReplicasEndIdentical() throws Exception {
        run("fio", fio("64M", false));
        assertThat(ctl("replicas"))
                .allSatisfy(r -> assertThat(r.get("mode").asText()).isEqualTo("RW"));
        assertThat(engine.stop(START))
                .as("engine stops on SIGTERM (128 + 15), flushing")
                .isEqualTo(143);
        assertThat(engine.output.toString()).doesNotContain("final flush failed");
        List<String> sums = procs.checksums(List.of(tmp.resolve("r1"), tmp.resolve("r2"), tmp.resolve("r3")));
        assertThat(sums).as("the three replicas hold the same bytes").containsOnly(sums.getFirst());
    }

    @Test
    void aReplicaKilledUnderLoadTurnsErrAndNoWriteIsLost() throws Exception {
        Processes.Proc fio = procs.tool("fio", fio("128M", false));
        // once writes are landing, kill one replica for real
        await().atMost(Duration.ofMinutes(2))
                .pollInterval(Duration.ofMillis(200))
                .until(() -> Processes.allocated(tmp.resolve("r2")) > (8L << 20));
        replicas.get(1).kill();
        assertThat(fio.exit(Duration.ofMinutes(5)))
                .as("fio output:%n%s", fio.output)
                .isZero();
        assertThat(fio.output.toString()).contains("err= 0");

        JsonNode states = ctl("replicas");
        assertThat(states).hasSize(3);
        assertThat(states.get(1).get("mode").asText()).isEqualTo("ERR");
        assertThat(states.get(0).get("mode").asText()).isEqualTo("RW");
        assertThat(states.get(2).get("mode").asText()).isEqualTo("RW");

        // a new engine on the same replicas (one of them dead) still holds every acknowledged write
        assertThat(engine.stop(START)).isEqualTo(143);
        startEngine();
        run("fio-verify", fio("128M", true));
        assertThat(ctl("info").get("epoch").asLong()).isEqualTo(2);
    }

    private String[] fio(String size, boolean verifyOnly) {
        return verifyOnly ? Processes.fioVerify(nbd, size, "--verify_only") : Processes.fioVerify(nbd, size);
    }
}
