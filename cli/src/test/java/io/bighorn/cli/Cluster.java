package io.bighorn.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.StreamSupport;

/**
 * A cluster of real processes for the control-plane tests: a manager ({@code bighorn server --no-local-agent})
 * and agents ({@code bighorn agent}), each node with its own disk directory, all on free ports; and an HTTP
 * client of the manager's API.
 */
final class Cluster implements AutoCloseable {
    static final Duration START = Duration.ofSeconds(90);
    private static final ObjectMapper JSON = new ObjectMapper();

    final Processes procs;
    final Path root;
    final Path managerData;
    private final HttpClient http = HttpClient.newHttpClient();
    private final Map<String, Processes.Proc> agents = new HashMap<>();
    private Processes.Proc manager;
    private int managerRuns;
    String api;

    Cluster(Path root, Path logs) throws IOException {
        this.root = root;
        this.managerData = root.resolve("manager");
        Files.createDirectories(logs);
        this.procs = new Processes(logs);
    }

    /** Starts (or restarts) the manager on its data directory and waits for its API. */
    String startManager() throws Exception {
        String listen = api == null ? "127.0.0.1:0" : URI.create(api).getAuthority();
        manager = procs.bighorn(
                "manager-" + ++managerRuns,
                Map.of(),
                "server",
                "--data",
                managerData.toString(),
                "--listen",
                listen,
                "--no-local-agent");
        api = manager.await("API at (http://\\S+)", START);
        return api;
    }

    void killManager() {
        manager.kill();
        try {
            manager.process.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Starts an agent named {@code name} with its own disk, and waits until the manager lists it ready. */
    void startAgent(String name, String... extra) throws Exception {
        Path disk = root.resolve("disk-" + name);
        Files.createDirectories(disk);
        List<String> args = new ArrayList<>(List.of(
                "agent",
                "--manager",
                api,
                "--disk",
                disk.toString(),
                "--name",
                name,
                "--secret-file",
                managerData.resolve("secret").toString(),
                "--listen",
                "127.0.0.1:0",
                "--nbd",
                "127.0.0.1:0"));
        args.addAll(List.of(extra));
        agents.put(name, procs.bighorn("agent-" + name, Map.of(), args.toArray(String[]::new)));
        await().atMost(START).until(() -> ready(name));
    }

    void killAgent(String name) throws InterruptedException {
        Processes.Proc p = agents.remove(name);
        p.kill();
        p.process.waitFor();
    }

    Path disk(String node) {
        return root.resolve("disk-" + node);
    }

    boolean ready(String node) throws IOException, InterruptedException {
        JsonNode n = call("GET", "/v1/nodes/" + node, null, -1);
        for (JsonNode c : n.path("status").path("conditions")) {
            if (c.path("type").asText().equals("Ready") && c.path("status").asBoolean()) {
                return !n.path("status").path("disks").isEmpty();
            }
        }
        return false;
    }

    void setting(String name, String value) throws Exception {
        call("PUT", "/v1/settings/" + name, Map.of("value", value), 200);
    }

    JsonNode volume(String name) throws IOException, InterruptedException {
        return call("GET", "/v1/volumes/" + name, null, 200);
    }

    static String state(JsonNode v) {
        return v.path("status").path("state").asText() + "/"
                + v.path("status").path("robustness").asText();
    }

    /** The nodes of the volume's replicas that are RW in its engine. */
    static List<String> rwNodes(JsonNode v) {
        return StreamSupport.stream(v.path("replicas").spliterator(), false)
                .filter(r -> r.path("status").path("mode").asText().equals("RW"))
                .map(r -> r.path("spec").path("node").asText())
                .sorted()
                .toList();
    }

    /** The nodes of the volume's replicas that are not failed. */
    static List<String> replicaNodes(JsonNode v) {
        return StreamSupport.stream(v.path("replicas").spliterator(), false)
                .filter(r -> r.path("spec").path("failedAt").isMissingNode()
                        || r.path("spec").path("failedAt").isNull())
                .map(r -> r.path("spec").path("node").asText())
                .sorted()
                .toList();
    }

    /**
     * Calls the API; {@code expect} is the status required ({@code -1}: any). Returns the JSON answer, with the
     * HTTP status in field {@code _status}.
     */
    JsonNode call(String method, String path, Object body, int expect) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(api + path)).timeout(Duration.ofSeconds(60));
        b.method(
                method,
                body == null
                        ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(body)));
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        if (expect >= 0) {
            assertThat(r.statusCode())
                    .as("%s %s answered %s", method, path, r.body())
                    .isEqualTo(expect);
        }
        JsonNode json = r.body().isEmpty() ? JSON.createObjectNode() : JSON.readTree(r.body());
        if (json.isObject()) {
            ((com.fasterxml.jackson.databind.node.ObjectNode) json).put("_status", r.statusCode());
        }
        return json;
    }

    /** A GET answered in plain text (the metrics). */
    String text(String path) throws IOException, InterruptedException {
        HttpResponse<String> r =
                http.send(HttpRequest.newBuilder(URI.create(api + path)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as("GET %s answered %s", path, r.body()).isEqualTo(200);
        return r.body();
    }

    /** Replica directories of a volume on a node's disk. */
    List<String> replicaDirs(String node, String volume) throws IOException {
        Path dir = disk(node).resolve("replicas");
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (var s = Files.list(dir)) {
            return s.filter(Files::isDirectory)
                    .map(p -> p.getFileName().toString())
                    .filter(n -> n.startsWith(volume + "-r-"))
                    .sorted()
                    .toList();
        }
    }

    @Override
    public void close() throws IOException {
        procs.close();
    }
}
