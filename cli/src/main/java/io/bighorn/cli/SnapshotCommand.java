package io.bighorn.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.bighorn.common.Sizes;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code bighorn snapshot …}: snapshots of an attached volume through the manager's API. */
@Command(
        name = "snapshot",
        description = "Create, list, revert to and delete snapshots of an attached volume (through the API).",
        subcommands = {
            SnapshotCommand.Create.class,
            SnapshotCommand.Ls.class,
            SnapshotCommand.Revert.class,
            SnapshotCommand.Rm.class
        })
final class SnapshotCommand {
    private SnapshotCommand() {}

    static String path(String volume, String snapshot) {
        return VolumeCommand.path(volume) + "/snapshots"
                + (snapshot == null ? "" : "/" + URLEncoder.encode(snapshot, StandardCharsets.UTF_8));
    }

    @Command(name = "create", description = "Snapshot a volume (every replica, at one point in time).")
    static final class Create extends ApiCommand {
        @Parameters(index = "0", description = "the volume")
        String volume;

        @Parameters(index = "1", arity = "0..1", description = "the snapshot's name (default: snap-<time>)")
        String name;

        @Option(names = "--label", description = "a label, key=value (repeatable)")
        Map<String, String> labels = new LinkedHashMap<>();

        @Override
        public Integer call() throws IOException {
            Map<String, Object> body = new LinkedHashMap<>();
            if (name != null) {
                body.put("name", name);
            }
            body.put("labels", labels);
            JsonNode s = api.client().post(path(volume, null), body);
            PrintWriter out = out();
            out.println(
                    api.json
                            ? ApiClient.pretty(s)
                            : "snapshot " + s.path("name").asText() + " of " + volume);
            out.flush();
            return 0;
        }
    }

    @Command(name = "ls", description = "List a volume's snapshots.")
    static final class Ls extends ApiCommand {
        @Parameters(index = "0", description = "the volume")
        String volume;

        @Override
        public Integer call() throws IOException {
            JsonNode all = api.client().get(path(volume, null));
            if (printedJson(all)) {
                return 0;
            }
            PrintWriter out = out();
            Table t = new Table("NAME", "PARENT", "CREATED", "SIZE", "USER", "REMOVED");
            for (JsonNode s : all.path("data")) {
                t.row(
                        s.path("name").asText(),
                        s.path("parent").asText().isEmpty()
                                ? "-"
                                : s.path("parent").asText(),
                        s.path("created").asText(),
                        Sizes.format(s.path("size").asLong()),
                        s.path("userCreated").asBoolean(),
                        s.path("removed").asBoolean());
            }
            t.print(out);
            return 0;
        }
    }

    @Command(name = "revert", description = "Revert a volume to a snapshot (no NBD client may be connected).")
    static final class Revert extends ApiCommand {
        @Parameters(index = "0", description = "the volume")
        String volume;

        @Parameters(index = "1", description = "the snapshot")
        String name;

        @Override
        public Integer call() throws IOException {
            api.client().post(path(volume, name) + "?action=revert", Map.of());
            out().println("volume " + volume + " reverted to " + name);
            out().flush();
            return 0;
        }
    }

    @Command(name = "rm", description = "Delete a snapshot and reclaim its space.")
    static final class Rm extends ApiCommand {
        @Parameters(index = "0", description = "the volume")
        String volume;

        @Parameters(index = "1", description = "the snapshot")
        String name;

        @Override
        public Integer call() throws IOException {
            api.client().delete(path(volume, name));
            out().println("snapshot " + name + " of " + volume + " deleted");
            out().flush();
            return 0;
        }
    }
}
