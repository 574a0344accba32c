package io.bighorn.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.bighorn.common.Sizes;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code bighorn volume …}: volumes through the manager's API. */
@Command(
        name = "volume",
        description = "Create, list, attach, detach, expand and delete volumes (through the manager's API).",
        subcommands = {
            VolumeCommand.Create.class,
            VolumeCommand.Ls.class,
            VolumeCommand.Get.class,
            VolumeCommand.Attach.class,
            VolumeCommand.Detach.class,
            VolumeCommand.Expand.class,
            VolumeCommand.Rm.class,
            VolumeCommand.BackupSnapshot.class,
            VolumeCommand.Backups.class
        })
final class VolumeCommand {
    private VolumeCommand() {}

    static String path(String volume) {
        return "/v1/volumes/" + URLEncoder.encode(volume, StandardCharsets.UTF_8);
    }

    /** Prints a volume as a table, or as JSON. */
    static void show(PrintWriter out, JsonNode v, boolean json) throws IOException {
        if (json) {
            out.println(ApiClient.pretty(v));
            out.flush();
            return;
        }
        JsonNode s = v.path("status");
        out.printf(
                "%s: %s, %s, %s, %d replicas wanted%n",
                v.path("meta").path("name").asText(),
                Sizes.format(v.path("spec").path("size").asLong()),
                s.path("state").asText(),
                s.path("robustness").asText(),
                v.path("spec").path("numberOfReplicas").asInt());
        if (!s.path("endpoint").asText().isEmpty()) {
            out.printf(
                    "  attached to %s at %s%n",
                    s.path("currentNodeId").asText(), s.path("endpoint").asText());
        }
        for (JsonNode c : s.path("conditions")) {
            if (!c.path("status").asBoolean()) {
                out.printf(
                        "  %s: %s%n", c.path("type").asText(), c.path("message").asText());
            }
        }
        Table t = new Table("REPLICA", "NODE", "DISK", "STATE", "MODE", "FAILED");
        for (JsonNode r : v.path("replicas")) {
            t.row(
                    r.path("meta").path("name").asText(),
                    r.path("spec").path("node").asText(),
                    r.path("spec").path("disk").asText(),
                    r.path("status").path("state").asText(),
                    r.path("status").path("mode").asText("-"),
                    r.path("spec").path("failedAt").asText("-"));
        }
        t.print(out);
        out.println("  actions: " + String.join(", ", list(v.path("actions"))));
        out.flush();
    }

    static List<String> list(JsonNode array) {
        return java.util.stream.StreamSupport.stream(array.spliterator(), false)
                .map(JsonNode::asText)
                .toList();
    }

    @Command(name = "create", description = "Create a volume; its replicas are placed on distinct nodes.")
    static final class Create extends ApiCommand {
        @Parameters(index = "0", description = "volume name: 1 to 40 of a-z, 0-9, '.', '_', '-'")
        String name;

        @Option(names = "--size", required = true, description = "size, e.g. 10Gi (rounded up to 2 MiB)")
        String size;

        @Option(names = "--replicas", description = "number of replicas (default: setting default-replica-count)")
        Integer replicas;

        @Option(names = "--data-locality", description = "disabled or best-effort")
        String dataLocality;

        @Option(names = "--node-selector", split = ",", description = "node tags the replicas' nodes must have")
        List<String> nodeSelector;

        @Option(names = "--disk-selector", split = ",", description = "disk tags the replicas' disks must have")
        List<String> diskSelector;

        @Option(
                names = "--from-backup",
                description = "a backup (its name in `bighorn backup ls`, or its URL): the volume starts with its data")
        String fromBackup;

        @Option(
                names = "--wait",
                description = "wait until its replicas exist (restored, with --from-backup), showing progress")
        boolean await;

        @Option(
                names = "--timeout",
                defaultValue = "1h",
                description = "how long --wait waits (default ${DEFAULT-VALUE})")
        String timeout;

        @Override
        public Integer call() throws IOException, InterruptedException {
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("name", name);
            body.put("size", size);
            if (replicas != null) {
                body.put("numberOfReplicas", replicas);
            }
            if (dataLocality != null) {
                body.put("dataLocality", dataLocality);
            }
            if (nodeSelector != null) {
                body.put("nodeSelector", nodeSelector);
            }
            if (diskSelector != null) {
                body.put("diskSelector", diskSelector);
            }
            if (fromBackup != null) {
                body.put("fromBackup", fromBackup);
            }
            ApiClient client = api.client();
            JsonNode v = client.post("/v1/volumes", body);
            if (await) {
                v = Waiter.until(client, name, Waiter.duration(timeout), "detached", false);
            }
            show(out(), v, api.json);
            return 0;
        }
    }

    @Command(name = "ls", description = "List volumes.")
    static final class Ls extends ApiCommand {
        @Override
        public Integer call() throws IOException {
            JsonNode all = api.client().get("/v1/volumes");
            if (printedJson(all)) {
                return 0;
            }
            PrintWriter out = out();
            Table t = new Table("NAME", "SIZE", "REPLICAS", "STATE", "ROBUSTNESS", "NODE", "ENDPOINT");
            for (JsonNode v : all.path("data")) {
                JsonNode s = v.path("status");
                t.row(
                        v.path("meta").path("name").asText(),
                        Sizes.format(v.path("spec").path("size").asLong()),
                        v.path("spec").path("numberOfReplicas").asInt(),
                        s.path("state").asText(),
                        s.path("robustness").asText(),
                        s.path("currentNodeId").asText("-").isEmpty()
                                ? "-"
                                : s.path("currentNodeId").asText(),
                        s.path("endpoint").asText().isEmpty()
                                ? "-"
                                : s.path("endpoint").asText());
            }
            t.print(out);
            return 0;
        }
    }

    @Command(name = "get", description = "Show a volume, its replicas and the actions its state allows.")
    static final class Get extends ApiCommand {
        @Parameters(index = "0")
        String name;

        @Override
        public Integer call() throws IOException {
            show(out(), api.client().get(path(name)), api.json);
            return 0;
        }
    }

    @Command(
            name = "attach",
            description = "Attach a volume to a node: its engine starts there and serves it over NBD. With"
                    + " --wait, waits until it is attached and healthy, showing rebuilds.")
    static final class Attach extends ApiCommand {
        @Parameters(index = "0")
        String name;

        @Option(names = "--node", description = "the node (default: the only node, when there is one)")
        String node;

        @Option(names = "--wait", description = "wait until attached and healthy")
        boolean await;

        @Option(
                names = "--timeout",
                defaultValue = "10m",
                description = "how long --wait waits (default ${DEFAULT-VALUE})")
        String timeout;

        @Override
        public Integer call() throws Exception {
            ApiClient client = api.client();
            String target = node != null ? node : onlyNode(client);
            JsonNode v = client.post(path(name) + "?action=attach", Map.of("node", target));
            if (await) {
                v = Waiter.until(client, name, Waiter.duration(timeout), "attached", true);
            }
            show(out(), v, api.json);
            return 0;
        }

        private static String onlyNode(ApiClient client) throws IOException {
            List<String> nodes = java.util.stream.StreamSupport.stream(
                            client.get("/v1/nodes").path("data").spliterator(), false)
                    .map(n -> n.path("meta").path("name").asText())
                    .toList();
            if (nodes.size() != 1) {
                throw new IllegalArgumentException(
                        "there are " + nodes.size() + " nodes " + nodes + ": say which with --node");
            }
            return nodes.getFirst();
        }
    }

    @Command(name = "detach", description = "Detach a volume: its engine stops; the data stays on the replicas.")
    static final class Detach extends ApiCommand {
        @Parameters(index = "0")
        String name;

        @Option(names = "--wait", description = "wait until detached")
        boolean await;

        @Override
        public Integer call() throws Exception {
            ApiClient client = api.client();
            JsonNode v = client.post(path(name) + "?action=detach", Map.of());
            if (await) {
                v = Waiter.until(client, name, Duration.ofMinutes(2), "detached", false);
            }
            show(out(), v, api.json);
            return 0;
        }
    }

    @Command(name = "expand", description = "Grow a volume (online when attached).")
    static final class Expand extends ApiCommand {
        @Parameters(index = "0")
        String name;

        @Parameters(index = "1", description = "the new size, e.g. 20Gi")
        String size;

        @Override
        public Integer call() throws IOException {
            show(out(), api.client().post(path(name) + "?action=expand", Map.of("size", size)), api.json);
            return 0;
        }
    }

    @Command(name = "rm", description = "Delete a volume and all its replicas' data.")
    static final class Rm extends ApiCommand {
        @Parameters(index = "0")
        String name;

        @Option(names = "--wait", description = "wait until it is gone")
        boolean await;

        @Override
        public Integer call() throws Exception {
            ApiClient client = api.client();
            client.delete(path(name));
            if (await) {
                Waiter.gone(client, name, Duration.ofMinutes(2));
            }
            out().println("volume " + name + (await ? " deleted" : " is being deleted"));
            out().flush();
            return 0;
        }
    }

    @Command(
            name = "backup",
            description = "Back a snapshot of an attached volume up to the backup target (setting backup-target);"
                    + " with --wait, shows its progress and waits for it to end.")
    static final class BackupSnapshot extends ApiCommand {
        @Parameters(index = "0", description = "the volume")
        String name;

        @Parameters(index = "1", description = "the snapshot")
        String snapshot;

        @Option(names = "--wait", description = "wait for the backup to complete")
        boolean await;

        @Override
        public Integer call() throws Exception {
            new BackupApi(api, out()).create(name, snapshot, await);
            out().flush();
            return 0;
        }
    }

    @Command(name = "backups", description = "List the backups of a volume run through the manager.")
    static final class Backups extends ApiCommand {
        @Parameters(index = "0", description = "the volume")
        String name;

        @Override
        public Integer call() throws IOException {
            JsonNode all = api.client().get(path(name) + "/backups");
            if (printedJson(all)) {
                return 0;
            }
            Table t = new Table("BACKUP", "SNAPSHOT", "STATE", "URL");
            for (JsonNode b : all.path("data")) {
                t.row(
                        b.path("meta").path("name").asText(),
                        b.path("spec").path("snapshot").asText(),
                        b.path("status").path("state").asText(),
                        b.path("status").path("url").asText("-"));
            }
            t.print(out());
            return 0;
        }
    }
}
