package io.bighorn.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
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
 * The control plane with real processes: a manager and agents on one machine acting as separate nodes,
 * qemu-img writing and verifying through NBD, agents and the manager killed with SIGKILL.
 */
class ClusterIT {
    private static final Duration CONVERGE = Duration.ofMinutes(3);

    @TempDir
    Path tmp;

    private Cluster cluster;

    @BeforeEach
    void start(TestInfo info) throws Exception {
        cluster = new Cluster(
                tmp,
                Path.of(
                        "target",
                        "it-logs",
                        "ClusterIT-" + info.getTestMethod().orElseThrow().getName()));
        cluster.startManager();
        // this machine's one file system is shared by every "node": judge space by over-provisioning only
        cluster.setting("storage-minimal-available-percentage", "0");
        cluster.setting("node-down-timeout", "5");
        cluster.setting("replica-replenishment-wait-interval", "0");
        for (String n : List.of("n1", "n2", "n3")) {
            cluster.startAgent(n);
        }
    }

    @AfterEach
    void stop() throws Exception {
        cluster.close();
    }

    private Path image(long size) throws Exception {
        Path img = tmp.resolve("data.img");
        byte[] data = new byte[(int) size];
        new Random(42).nextBytes(data);
        Files.write(img, data);
        return img;
    }

    private void qemuImg(String... args) throws Exception {
        List<String> all = new ArrayList<>(List.of("qemu-img"));
        all.addAll(List.of(args));
        Processes.Proc p = cluster.procs.tool("qemu-img-" + args[0], all.toArray(String[]::new));
        assertThat(p.exit(Duration.ofMinutes(3)))
                .as("qemu-img %s:%n%s", List.of(args), p.output)
                .isZero();
    }

    private JsonNode awaitVolume(String name, String state) {
        return await().atMost(CONVERGE)
                .pollInterval(Duration.ofMillis(500))
                .until(() -> cluster.volume(name), v -> Cluster.state(v).equals(state));
    }

    @Test
    void aNodeLostIsRebuiltOnAnotherWhileDataSurvives() throws Exception {
        cluster.call("POST", "/v1/volumes", Map.of("name", "vol1", "size", "64Mi", "numberOfReplicas", 3), 201);
        JsonNode v = awaitVolume("vol1", "detached/healthy");
        assertThat(Cluster.replicaNodes(v)).containsExactly("n1", "n2", "n3");

        cluster.call("POST", "/v1/volumes/vol1?action=attach", Map.of("node", "n1"), 202);
        v = awaitVolume("vol1", "attached/healthy");
        String nbd = v.path("status").path("endpoint").asText();
        assertThat(nbd).startsWith("nbd://").endsWith("/vol1");
        Path img = image(16L << 20);
        qemuImg("convert", "-n", "-f", "raw", "-O", "raw", img.toString(), nbd);
        qemuImg("compare", "-f", "raw", "-F", "raw", img.toString(), nbd);
        cluster.call("POST", "/v1/volumes/vol1/snapshots", Map.of("name", "before-loss"), 201);
        // a backup through the manager, run by the attach node's agent
        Path backups = tmp.resolve("backups");
        cluster.setting("backup-target", "file://" + backups.toAbsolutePath());
        JsonNode b = cluster.call("POST", "/v1/volumes/vol1/backups", Map.of("snapshot", "before-loss"), 201);
        String backup = b.path("meta").path("name").asText();
        JsonNode done = await().atMost(CONVERGE)
                .until(
                        () -> cluster.call("GET", "/v1/backups/" + backup, null, 200),
                        x -> x.path("status").path("state").asText().matches("completed|error"));
        assertThat(done.path("status").path("state").asText()).as("%s", done).isEqualTo("completed");
        assertThat(done.path("status").path("node").asText()).isEqualTo("n1");
        assertThat(Files.exists(backups.resolve("backupstore/volumes"))).isTrue();
        // the completed backup makes the manager list the target: a BackupVolume describes vol1
        JsonNode listed = await().atMost(CONVERGE)
                .ignoreExceptions()
                .until(
                        () -> cluster.call("GET", "/v1/backupvolumes/vol1", null, 200),
                        x -> x.path("status").path("backups").asInt() == 1);
        assertThat(listed.path("status").path("lastBackupName").asText()).isEqualTo(backup);
        assertThat(listed.path("backups").findValuesAsText("url"))
                .containsExactly(done.path("status").path("url").asText());
        JsonNode target = cluster.call("GET", "/v1/backuptargets/default", null, 200);
        assertThat(target.path("status").path("available").asBoolean())
                .as("%s", target)
                .isTrue();

        cluster.startAgent("n4");
        cluster.killAgent("n3");
        await().atMost(CONVERGE)
                .until(() -> Cluster.state(cluster.volume("vol1")).equals("attached/degraded")
                        || Cluster.replicaNodes(cluster.volume("vol1")).contains("n4"));
        v = await().atMost(CONVERGE)
                .pollInterval(Duration.ofMillis(500))
                .until(
                        () -> cluster.volume("vol1"),
                        x -> Cluster.state(x).equals("attached/healthy")
                                && Cluster.rwNodes(x).equals(List.of("n1", "n2", "n4"))
                                && x.path("replicas").size() == 3);
        assertThat(v.path("status").path("lastDegradedAt").asText()).isNotEmpty();
        qemuImg("compare", "-f", "raw", "-F", "raw", img.toString(), nbd);
        JsonNode snaps = cluster.call("GET", "/v1/volumes/vol1/snapshots", null, 200);
        assertThat(snaps.path("data").findValuesAsText("name")).as("%s", snaps).contains("before-loss");
        // the lost replica's object is gone; the dead node holds its data until it returns
        assertThat(v.path("replicas")).hasSize(3);

        String metrics = cluster.text("/metrics");
        assertThat(metrics)
                .contains("bighorn_volume_robustness{volume=\"vol1\",robustness=\"healthy\"} 1")
                .contains("bighorn_node_status{node=\"n3\",condition=\"ready\"} 0")
                .containsPattern("bighorn_volume_write_bytes_total\\{volume=\"vol1\"\\} [1-9]");

        // a new volume restored from the backup holds the data the snapshot held
        String url = done.path("status").path("url").asText();
        cluster.call(
                "POST",
                "/v1/volumes",
                Map.of("name", "restored", "size", "64Mi", "numberOfReplicas", 2, "fromBackup", url),
                201);
        awaitVolume("restored", "detached/healthy");
        cluster.call("POST", "/v1/volumes/restored?action=attach", Map.of("node", "n2"), 202);
        JsonNode restored = awaitVolume("restored", "attached/healthy");
        qemuImg(
                "compare",
                "-f",
                "raw",
                "-F",
                "raw",
                img.toString(),
                restored.path("status").path("endpoint").asText());

        // deleting the backup through the API removes it from the target, then its object
        cluster.call("DELETE", "/v1/backups/" + backup, null, 202);
        await().atMost(CONVERGE)
                .until(() -> cluster.call("GET", "/v1/backups/" + backup, null, -1)
                                .path("_status")
                                .asInt()
                        == 404);
        try (var cfgs = Files.walk(backups)) {
            assertThat(cfgs.map(p -> p.getFileName().toString()))
                    .as("backup cfgs left in the target")
                    .noneMatch(n -> n.equals("backup_" + backup + ".cfg"));
        }
        await().atMost(CONVERGE)
                .until(
                        () -> cluster.call("GET", "/v1/backupvolumes/vol1", null, 200),
                        x -> x.path("status").path("backups").asInt() == 0);
    }

    @Test
    void theManagerKilledMidOperationConvergesWithoutOrphansOrDuplicates() throws Exception {
        // during create
        cluster.call("POST", "/v1/volumes", Map.of("name", "vol2", "size", "32Mi", "numberOfReplicas", 3), 201);
        cluster.killManager();
        cluster.startManager();
        awaitVolume("vol2", "detached/healthy");
        assertReplicas("vol2", 3);

        // during attach
        cluster.call("POST", "/v1/volumes/vol2?action=attach", Map.of("node", "n2"), 202);
        cluster.killManager();
        cluster.startManager();
        JsonNode v = awaitVolume("vol2", "attached/healthy");
        Path img = image(8L << 20);
        String nbd = v.path("status").path("endpoint").asText();
        qemuImg("convert", "-n", "-f", "raw", "-O", "raw", img.toString(), nbd);

        // during a rebuild
        cluster.startAgent("n4");
        cluster.killAgent("n1");
        await().atMost(CONVERGE).until(() -> cluster.replicaDirs("n4", "vol2").size() == 1);
        cluster.killManager();
        cluster.startManager();
        v = await().atMost(CONVERGE)
                .pollInterval(Duration.ofMillis(500))
                .until(
                        () -> cluster.volume("vol2"),
                        x -> Cluster.state(x).equals("attached/healthy")
                                && Cluster.rwNodes(x).equals(List.of("n2", "n3", "n4"))
                                && x.path("replicas").size() == 3);
        assertReplicas("vol2", 3);
        qemuImg("compare", "-f", "raw", "-F", "raw", img.toString(), nbd);
    }

    /** Exactly {@code count} replicas: as many objects as data directories on the live nodes, one per node. */
    private void assertReplicas(String volume, int count) throws Exception {
        JsonNode v = cluster.volume(volume);
        assertThat(v.path("replicas")).hasSize(count);
        List<String> dirs = new ArrayList<>();
        for (String n : List.of("n1", "n2", "n3", "n4")) {
            if (cluster.ready(n)) {
                dirs.addAll(cluster.replicaDirs(n, volume));
            }
        }
        List<String> objects = v.path("replicas").findValuesAsText("name");
        await().atMost(CONVERGE).untilAsserted(() -> {
            List<String> now = new ArrayList<>();
            for (String n : List.of("n1", "n2", "n3", "n4")) {
                if (Files.isDirectory(cluster.disk(n)) && cluster.ready(n)) {
                    now.addAll(cluster.replicaDirs(n, volume));
                }
            }
            assertThat(now).containsExactlyInAnyOrderElementsOf(objects);
        });
        assertThat(dirs).isNotEmpty();
    }
}
