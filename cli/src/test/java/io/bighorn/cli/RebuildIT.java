package io.bighorn.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.bighorn.control.ControlClient;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/**
 * Rebuilds under real faults: a replica process is killed with SIGKILL while fio writes and verifies
 * through the engine, restarted on its data, and added back with {@code ctl add-replica --wait}; round
 * after round, on every replica in turn. Every fio verify must pass and the replicas must end
 * byte-identical. {@code -Dbighorn.rebuild.rounds=N} sets the rounds (the soak script uses 100).
 */
class RebuildIT {
    private static final Duration START = Duration.ofSeconds(60);
    private static final long SIZE = 64L << 20;
    private static final Map<String, String> ENV = Map.of("BIGHORN_SECRET", "rebuild-it-secret");
    private static final int ROUNDS = Integer.getInteger("bighorn.rebuild.rounds", 20);

    @TempDir
    Path tmp;

    private Processes procs;
    private final List<String> urls = new ArrayList<>();
    private final List<Processes.Proc> replicas = new ArrayList<>();
    private Processes.Proc engine;
    private String nbd;
    private String control;

    @BeforeEach
    void start(TestInfo info) throws Exception {
        Path logs = Path.of(
                "target",
                "it-logs",
                "RebuildIT-" + info.getTestMethod().orElseThrow().getName());
        Files.createDirectories(logs);
        procs = new Processes(logs);
        for (int i = 0; i < 3; i++) {
            replicas.add(replica(i, "127.0.0.1:0"));
        }
        for (Processes.Proc r : replicas) {
            urls.add(r.await("serving on (tcp://\\S+)", START));
        }
        Processes.Engine e = procs.engine("engine", ENV, SIZE, urls, 8);
        engine = e.proc();
        nbd = e.nbd();
        control = e.control();
    }

    private Processes.Proc replica(int i, String listen) throws IOException {
        return procs.replica("replica" + i, ENV, tmp.resolve("r" + i), SIZE, listen);
    }

    @AfterEach
    void stop() throws IOException {
        procs.close();
    }

    @Test
    void killedReplicasAreRebuiltUnderAVerifyingLoadAndEndIdentical() throws Exception {
        for (int round = 0; round < ROUNDS; round++) {
            int victim = round % urls.size();
            String url = urls.get(victim);
            long before = Processes.allocated(tmp.resolve("r" + victim));
            Processes.Proc fio = procs.tool("fio-" + round, fio(round));
            await().atMost(Duration.ofMinutes(2))
                    .pollInterval(Duration.ofMillis(100))
                    .until(() -> !fio.process.isAlive()
                            || Processes.allocated(tmp.resolve("r" + victim)) > before + (1 << 20));
            replicas.get(victim).kill();
            replicas.get(victim).process.waitFor();
            if (fio.process.isAlive()) {
                await().atMost(Duration.ofSeconds(30)).until(() -> mode(url).equals("ERR"));
            }

            URI address = URI.create(url);
            Processes.Proc restarted = replica(victim, address.getHost() + ":" + address.getPort());
            replicas.set(victim, restarted);
            restarted.await("serving on (tcp://\\S+)", START);
            JsonNode rebuilt = ctl("add-replica", url, "--wait");
            assertThat(rebuilt.get("state").asText())
                    .as("round %d: %s", round, rebuilt)
                    .isEqualTo("done");

            assertThat(fio.exit(Duration.ofMinutes(5)))
                    .as("round %d fio output:%n%s", round, fio.output)
                    .isZero();
            assertThat(fio.output.toString()).contains("err= 0");
            for (String u : urls) {
                assertThat(mode(u)).as("round %d: %s", round, u).isEqualTo("RW");
            }
        }
        assertThat(ctl("replicas"))
                .allSatisfy(r -> assertThat(r.get("mode").asText()).isEqualTo("RW"));
        assertThat(engine.stop(START)).as("engine stops on SIGTERM, flushing").isEqualTo(143);
        List<String> sums = procs.checksums(List.of(tmp.resolve("r0"), tmp.resolve("r1"), tmp.resolve("r2")));
        assertThat(sums).as("the three replicas hold the same bytes").containsOnly(sums.getFirst());
    }

    /** The replica's mode, asked in-process (a JVM start per poll would slow every round down). */
    private String mode(String url) throws Exception {
        try (ControlClient client = new ControlClient(control)) {
            return client.info().getReplicasList().stream()
                    .filter(r -> r.getAddress().equals(url))
                    .map(io.bighorn.control.v1.Replica::getMode)
                    .findFirst()
                    .orElse("absent");
        }
    }

    private JsonNode ctl(String... args) throws Exception {
        return procs.ctl(control, args);
    }

    private String[] fio(int round) {
        return Processes.fioVerify(
                nbd, Long.toString(SIZE >> 2), "--offset=" + (round % 4) * (SIZE >> 2), "--randseed=" + (1000 + round));
    }
}
