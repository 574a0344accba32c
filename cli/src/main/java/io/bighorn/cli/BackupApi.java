package io.bighorn.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.Map;

/**
 * {@code bighorn backup …} through the manager's API, for the forms that name no target URL: the manager
 * lists the backup target (setting backup-target) through a node, runs backups on the attach node and
 * deletes from the target itself. The forms with a URL talk to the target directly ({@link BackupCommand}).
 */
final class BackupApi {
    private final ApiClient client;
    private final boolean json;
    private final PrintWriter out;

    BackupApi(ApiClient.Options options, PrintWriter out) throws IOException {
        this.client = options.client();
        this.json = options.json;
        this.out = out;
    }

    private void print(JsonNode node, String text) throws IOException {
        out.println(json ? ApiClient.pretty(node) : text);
    }

    /** The backup volumes the target holds, or one volume's backups. */
    void ls(String volume) throws IOException {
        if (volume == null) {
            JsonNode all = client.get("/v1/backupvolumes");
            if (json) {
                print(all, "");
                return;
            }
            Table t = new Table("VOLUME", "SIZE", "BACKUPS", "LAST BACKUP", "AT");
            for (JsonNode v : all.path("data")) {
                JsonNode s = v.path("status");
                t.row(
                        v.path("meta").path("name").asText(),
                        io.bighorn.common.Sizes.format(s.path("size").asLong()),
                        s.path("backups").asInt(),
                        s.path("lastBackupName").asText("-"),
                        s.path("lastBackupAt").asText("-"));
            }
            t.print(out);
            return;
        }
        JsonNode v = client.get("/v1/backupvolumes/" + volume);
        if (json) {
            print(v.path("backups"), "");
            return;
        }
        Table t = new Table("BACKUP", "SNAPSHOT", "STATE", "SIZE", "URL");
        for (JsonNode b : v.path("backups")) {
            JsonNode s = b.path("status");
            t.row(
                    b.path("meta").path("name").asText(),
                    b.path("spec").path("snapshot").asText(),
                    s.path("state").asText(),
                    io.bighorn.common.Sizes.format(s.path("bytesTotal").asLong()),
                    s.path("url").asText("-"));
        }
        t.print(out);
    }

    void inspect(String backup) throws IOException {
        JsonNode b = client.get("/v1/backups/" + backup);
        JsonNode s = b.path("status");
        print(
                b,
                String.format(
                        "%-10s %s%n%-10s %s%n%-10s %s%n%-10s %s%n%-10s %s%s",
                        "backup",
                        backup,
                        "volume",
                        b.path("spec").path("volume").asText(),
                        "snapshot",
                        b.path("spec").path("snapshot").asText(),
                        "state",
                        s.path("state").asText(),
                        "url",
                        s.path("url").asText("-"),
                        s.path("error").asText().isEmpty()
                                ? ""
                                : "\nerror      " + s.path("error").asText()));
    }

    /** Deletes a backup, or with {@code wholeVolume} every backup of a volume, and waits until it is gone. */
    void rm(String name, boolean wholeVolume) throws IOException, InterruptedException {
        String path = (wholeVolume ? "/v1/backupvolumes/" : "/v1/backups/") + name;
        client.delete(path);
        while (exists(path)) {
            Thread.sleep(250);
        }
        print(
                com.fasterxml.jackson.databind.node.JsonNodeFactory.instance
                        .objectNode()
                        .put("deleted", name)
                        .put("wholeVolume", wholeVolume),
                wholeVolume ? "deleted backup volume " + name : "deleted backup " + name);
    }

    private boolean exists(String path) throws IOException {
        try {
            client.get(path);
            return true;
        } catch (ApiClient.ApiError e) {
            if (e.status() == 404) {
                return false;
            }
            throw e;
        }
    }

    /** Backs a snapshot of an attached volume up; with {@code await}, follows it to its end with a bar. */
    void create(String volume, String snapshot, boolean await) throws IOException, InterruptedException {
        JsonNode b = client.post("/v1/volumes/" + volume + "/backups", Map.of("snapshot", snapshot));
        String id = b.path("meta").path("name").asText();
        if (await) {
            try (ProgressPrinter bar = ProgressPrinter.forStderr("backup " + volume, json)) {
                while (!b.path("status").path("state").asText().matches("completed|error")) {
                    Thread.sleep(500);
                    b = client.get("/v1/backups/" + id);
                    bar.update(
                            b.path("status").path("bytesDone").asLong(),
                            b.path("status").path("bytesTotal").asLong());
                }
            }
            if (b.path("status").path("state").asText().equals("error")) {
                throw new IOException("backup " + id + " failed: "
                        + b.path("status").path("error").asText());
            }
        }
        print(
                b,
                "backup " + id + " of " + volume + "/" + snapshot + ": "
                        + b.path("status").path("state").asText()
                        + (b.path("status").path("url").asText().isEmpty()
                                ? ""
                                : " " + b.path("status").path("url").asText()));
    }

    /** The backup target's state; with {@code sync}, lists it again first and waits for that listing. */
    void target(boolean sync) throws IOException, InterruptedException {
        String path = "/v1/backuptargets/default";
        if (sync) {
            JsonNode before = client.post(path + "?action=sync", Map.of());
            String asked = before.path("spec").path("syncRequestedAt").asText();
            JsonNode t = before;
            for (int i = 0; i < 240 && !listedSince(t, asked); i++) {
                Thread.sleep(250);
                t = client.get(path);
            }
        }
        JsonNode t = client.get(path);
        JsonNode s = t.path("status");
        print(
                t,
                String.format(
                        "%-10s %s%n%-10s %s%n%-10s %s",
                        "url",
                        t.path("spec").path("url").asText("-"),
                        "available",
                        s.path("available").asBoolean()
                                + (s.path("message").asText().isEmpty()
                                        ? ""
                                        : " (" + s.path("message").asText() + ")"),
                        "listed",
                        s.path("lastSyncedAt").asText("never")));
    }

    private static boolean listedSince(JsonNode t, String asked) {
        String last = t.path("status").path("lastSyncedAt").asText("");
        return !last.isEmpty()
                && !asked.isEmpty()
                && java.time.Instant.parse(last).compareTo(java.time.Instant.parse(asked)) >= 0;
    }
}
