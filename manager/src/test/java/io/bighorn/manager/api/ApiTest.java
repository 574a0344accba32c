package io.bighorn.manager.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.bighorn.manager.Manager;
import io.bighorn.manager.model.Kind;
import io.bighorn.manager.reconcile.AgentApi;
import io.bighorn.manager.reconcile.EngineApi;
import io.bighorn.manager.store.Json;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The REST API of a real manager (no agents: nothing can be scheduled): bad input answered with 4xx and a
 * message, and nothing created; state-gated actions; settings validated; the OpenAPI document; heartbeats
 * refused without the agents' token; off loopback, the bearer token.
 */
class ApiTest {
    @TempDir
    Path dir;

    private Manager manager;
    private final HttpClient http = HttpClient.newHttpClient();

    private static final AgentApi.Connector NO_AGENTS = address -> {
        throw new IllegalStateException("no agent in this test");
    };
    private static final EngineApi.Connector NO_ENGINES = address -> {
        throw new IllegalStateException("no engine in this test");
    };

    @BeforeEach
    void start() throws Exception {
        manager = Manager.start(new Manager.Config(
                dir,
                new InetSocketAddress("127.0.0.1", 0),
                "secret-token",
                header -> "Bearer agent".equals(header),
                NO_AGENTS,
                NO_ENGINES,
                Duration.ofMillis(200),
                Clock.systemUTC()));
    }

    @AfterEach
    void stop() throws Exception {
        manager.close();
    }

    private HttpResponse<String> call(String method, String path, String body, String auth) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(manager.url() + path));
        if (auth != null) {
            b.header("Authorization", auth);
        }
        b.method(
                method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private JsonNode expect(int status, String method, String path, String body) throws Exception {
        HttpResponse<String> r = call(method, path, body, null);
        assertThat(r.statusCode()).as("%s %s -> %s", method, path, r.body()).isEqualTo(status);
        return r.body().isEmpty() ? Json.MAPPER.createObjectNode() : Json.MAPPER.readTree(r.body());
    }

    private void expectError(int status, String code, String messagePart, String method, String path, String body)
            throws Exception {
        JsonNode e = expect(status, method, path, body);
        assertThat(e.path("code").asText()).isEqualTo(code);
        assertThat(e.path("message").asText()).contains(messagePart);
    }

    @Test
    void badVolumesAreRefusedWithAReasonAndNothingIsCreated() throws Exception {
        expectError(
                400,
                "InvalidArgument",
                "invalid volume name",
                "POST",
                "/v1/volumes",
                "{\"name\":\"Bad_Name\",\"size\":\"1Gi\"}");
        expectError(
                400,
                "InvalidArgument",
                "at most 40",
                "POST",
                "/v1/volumes",
                "{\"name\":\"" + "a".repeat(41) + "\",\"size\":\"1Gi\"}");
        expectError(400, "InvalidArgument", "'name' is required", "POST", "/v1/volumes", "{\"size\":\"1Gi\"}");
        expectError(400, "InvalidArgument", "'size' is required", "POST", "/v1/volumes", "{\"name\":\"v\"}");
        expectError(
                400, "InvalidArgument", "invalid size", "POST", "/v1/volumes", "{\"name\":\"v\",\"size\":\"lots\"}");
        expectError(400, "InvalidArgument", "more than 0", "POST", "/v1/volumes", "{\"name\":\"v\",\"size\":-5}");
        expectError(
                400, "InvalidArgument", "at most 1 PiB", "POST", "/v1/volumes", "{\"name\":\"v\",\"size\":\"2Pi\"}");
        expectError(
                400,
                "InvalidArgument",
                "numberOfReplicas",
                "POST",
                "/v1/volumes",
                "{\"name\":\"v\",\"size\":\"1Gi\",\"numberOfReplicas\":0}");
        expectError(
                400,
                "InvalidArgument",
                "unknown field 'sise'",
                "POST",
                "/v1/volumes",
                "{\"name\":\"v\",\"sise\":\"1Gi\"}");
        expectError(400, "InvalidArgument", "not JSON", "POST", "/v1/volumes", "{name");
        expectError(
                400,
                "InvalidArgument",
                "dataLocality",
                "POST",
                "/v1/volumes",
                "{\"name\":\"v\",\"size\":\"1Gi\",\"dataLocality\":\"strict\"}");
        expectError(
                400,
                "InvalidArgument",
                "fromBackup must be a backup's",
                "POST",
                "/v1/volumes",
                "{\"name\":\"v\",\"size\":\"1Gi\",\"fromBackup\":\"/etc/passwd\"}");
        assertThat(manager.store().list(Kind.VOLUME)).isEmpty();
        assertThat(expect(200, "GET", "/v1/volumes", null).path("data")).isEmpty();
        expectError(404, "NotFound", "volume 'nope' does not exist", "GET", "/v1/volumes/nope", null);
        expectError(405, "MethodNotAllowed", "PUT is not allowed", "PUT", "/v1/volumes", "{}");
        expectError(404, "NotFound", "no such collection", "GET", "/v1/volumez", null);
    }

    @Test
    void aVolumeThatCannotBeScheduledSaysWhyAndActionsAreGatedByState() throws Exception {
        JsonNode v = expect(201, "POST", "/v1/volumes", "{\"name\":\"v1\",\"size\":\"10M\",\"numberOfReplicas\":2}");
        assertThat(v.path("spec").path("size").asLong()).isEqualTo(10L << 20); // 10 MB rounded up to 2 MiB
        assertThat(v.path("status").path("state").asText()).isEqualTo("creating");
        expectError(
                409, "AlreadyExists", "already exists", "POST", "/v1/volumes", "{\"name\":\"v1\",\"size\":\"1Gi\"}");
        JsonNode scheduled = await().atMost(Duration.ofSeconds(30))
                .until(
                        () -> expect(200, "GET", "/v1/volumes/v1", null)
                                .path("status")
                                .path("conditions"),
                        c -> c.findValuesAsText("reason").contains("ReplicaSchedulingFailure"));
        assertThat(scheduled.toString()).contains("NO_NODES");
        expectError(
                409,
                "InvalidState",
                "snapshot needs one of the states [attached]",
                "POST",
                "/v1/volumes/v1/snapshots",
                "{}");
        expectError(409, "InvalidState", "expand needs", "POST", "/v1/volumes/v1?action=expand", "{\"size\":\"1Gi\"}");
        expectError(
                400,
                "InvalidArgument",
                "node 'ghost' does not exist",
                "POST",
                "/v1/volumes/v1?action=attach",
                "{\"node\":\"ghost\"}");
        expectError(400, "InvalidArgument", "unknown action 'fly'", "POST", "/v1/volumes/v1?action=fly", "{}");
        expectError(
                400,
                "InvalidArgument",
                "replicaCount",
                "POST",
                "/v1/volumes/v1?action=updateReplicaCount",
                "{\"replicaCount\":99}");
        expect(202, "DELETE", "/v1/volumes/v1", null);
        await().atMost(Duration.ofSeconds(30))
                .until(() -> manager.store().list(Kind.VOLUME).isEmpty());
    }

    @Test
    void backupResourcesAndTheirGuards() throws Exception {
        await().atMost(Duration.ofSeconds(30))
                .until(() -> manager.store().get(Kind.BACKUP_TARGET, "default").isPresent());
        JsonNode t = expect(200, "GET", "/v1/backuptargets/default", null);
        assertThat(t.path("status").path("available").asBoolean()).isFalse();
        assertThat(t.path("status").path("message").asText()).contains("backup-target setting");
        expectError(400, "InvalidArgument", "?action=sync", "POST", "/v1/backuptargets/default", "{}");
        expect(202, "POST", "/v1/backuptargets/default?action=sync", "{}");
        expectError(404, "NotFound", "there is one: default", "GET", "/v1/backuptargets/other", null);
        assertThat(expect(200, "GET", "/v1/backupvolumes", null).path("data")).isEmpty();
        expectError(404, "NotFound", "action=sync", "DELETE", "/v1/backupvolumes/vol1", null);
        expectError(404, "NotFound", "backup 'b1' does not exist", "DELETE", "/v1/backups/b1", null);

        manager.store()
                .create(
                        Kind.BACKUP,
                        new io.bighorn.manager.model.Backup(
                                io.bighorn.manager.model.Meta.named("b1"),
                                new io.bighorn.manager.model.Backup.Spec("vol1", "s1", java.util.Map.of()),
                                new io.bighorn.manager.model.Backup.Status(
                                        "running", "n1", "file:///t", 1, 10, "", "")));
        expectError(409, "InvalidState", "backup b1 is running", "DELETE", "/v1/backups/b1", null);
        expectError(405, "MethodNotAllowed", "GET or DELETE", "PUT", "/v1/backups/b1", "{}");
        assertThat(manager.store().get(Kind.BACKUP, "b1").orElseThrow().meta().deleting())
                .isFalse();

        // a detached volume's snapshots: the last view of its chain (none yet), not an error
        expect(201, "POST", "/v1/volumes", "{\"name\":\"v1\",\"size\":\"1Gi\"}");
        assertThat(expect(200, "GET", "/v1/volumes/v1/snapshots", null).path("data"))
                .isEmpty();
        expectError(404, "NotFound", "no snapshot 's9'", "GET", "/v1/volumes/v1/snapshots/s9", null);
    }

    @Test
    void settingsAreValidatedAndDescribed() throws Exception {
        JsonNode all = expect(200, "GET", "/v1/settings", null).path("data");
        assertThat(all.findValuesAsText("name"))
                .contains(
                        "default-replica-count",
                        "storage-over-provisioning-percentage",
                        "storage-minimal-available-percentage",
                        "storage-reserved-percentage-for-default-disk",
                        "replica-soft-anti-affinity",
                        "replica-zone-soft-anti-affinity",
                        "replica-disk-soft-anti-affinity",
                        "default-data-locality",
                        "auto-salvage",
                        "engine-replica-timeout",
                        "replica-replenishment-wait-interval",
                        "concurrent-replica-rebuild-per-node-limit",
                        "backup-target",
                        "backup-compression-method");
        for (JsonNode s : all) {
            assertThat(s.path("definition").path("description").asText())
                    .as(s.path("name").asText())
                    .isNotBlank();
        }
        assertThat(expect(200, "GET", "/v1/settings/default-replica-count", null)
                        .path("value")
                        .asText())
                .isEqualTo("3");
        expectError(404, "NotFound", "unknown setting 'colour'", "PUT", "/v1/settings/colour", "{\"value\":\"red\"}");
        expectError(
                400,
                "InvalidArgument",
                "from 8 to 30",
                "PUT",
                "/v1/settings/engine-replica-timeout",
                "{\"value\":\"5\"}");
        expectError(
                400, "InvalidArgument", "true or false", "PUT", "/v1/settings/auto-salvage", "{\"value\":\"maybe\"}");
        expectError(
                400,
                "InvalidArgument",
                "one of none, lz4, gzip",
                "PUT",
                "/v1/settings/backup-compression-method",
                "{\"value\":\"zip\"}");
        assertThat(manager.store().list(Kind.SETTING)).isEmpty();
        expect(200, "PUT", "/v1/settings/default-replica-count", "{\"value\":\" 2 \"}");
        JsonNode v = expect(201, "POST", "/v1/volumes", "{\"name\":\"v2\",\"size\":4096}");
        assertThat(v.path("spec").path("numberOfReplicas").asInt()).isEqualTo(2);
    }

    @Test
    void openApiEventsAndHeartbeatAuthentication() throws Exception {
        JsonNode doc = expect(200, "GET", "/v1/openapi", null);
        assertThat(doc.path("openapi").asText()).startsWith("3.");
        assertThat(doc.path("paths").has("/v1/volumes/{name}")).isTrue();
        long from =
                expect(200, "GET", "/v1/events", null).path("resourceVersion").asLong();
        expect(201, "POST", "/v1/volumes", "{\"name\":\"ev\",\"size\":\"4Mi\"}");
        JsonNode events = expect(200, "GET", "/v1/events?since=" + from + "&wait=5", null);
        assertThat(events.path("events").get(0).path("type").asText()).isEqualTo("ADDED");
        assertThat(events.path("events").get(0).path("name").asText()).isEqualTo("ev");

        String hb = "{\"node\":\"n1\",\"address\":\"127.0.0.1:1\",\"nbdAddress\":\"127.0.0.1:2\"}";
        assertThat(call("POST", "/v1/internal/heartbeat", hb, null).statusCode())
                .isEqualTo(401);
        assertThat(call("POST", "/v1/internal/heartbeat", hb, "Bearer wrong").statusCode())
                .isEqualTo(401);
        assertThat(call("POST", "/v1/internal/heartbeat", hb, "Bearer agent").statusCode())
                .isEqualTo(204);
        JsonNode node = expect(200, "GET", "/v1/nodes/n1", null);
        assertThat(node.path("status").path("address").asText()).isEqualTo("127.0.0.1:1");
        expectError(400, "InvalidArgument", "unknown field", "PUT", "/v1/nodes/n1", "{\"colour\":1}");
        expectError(409, "InvalidState", "is up", "DELETE", "/v1/nodes/n1", null);
        assertThat(expect(200, "PUT", "/v1/nodes/n1", "{\"allowScheduling\":false,\"tags\":[\"ssd\"]}")
                        .path("spec")
                        .path("tags")
                        .get(0)
                        .asText())
                .isEqualTo("ssd");
        assertThat(call("GET", "/metrics", null, null).body()).contains("bighorn_node_count_total 1");
    }

    @Test
    void offLoopbackEveryCallNeedsTheToken() throws Exception {
        try (Manager open = Manager.start(new Manager.Config(
                dir.resolve("open"),
                new InetSocketAddress("0.0.0.0", 0),
                "secret-token",
                header -> false,
                NO_AGENTS,
                NO_ENGINES,
                Duration.ofSeconds(1),
                Clock.systemUTC()))) {
            int port = URI.create(open.url()).getPort();
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/volumes"));
            assertThat(http.send(b.build(), HttpResponse.BodyHandlers.ofString())
                            .statusCode())
                    .isEqualTo(401);
            assertThat(http.send(
                                    b.header("Authorization", "Bearer secret-token")
                                            .build(),
                                    HttpResponse.BodyHandlers.ofString())
                            .statusCode())
                    .isEqualTo(200);
        }
    }
}
