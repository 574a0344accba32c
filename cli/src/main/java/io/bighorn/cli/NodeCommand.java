package io.bighorn.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.bighorn.common.Sizes;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code bighorn node …}: the cluster's nodes and their disks. */
@Command(
        name = "node",
        description = "List nodes and their disks; turn scheduling on or off, set tags and disk reserves.",
        subcommands = {NodeCommand.Ls.class, NodeCommand.Update.class})
final class NodeCommand {
    private NodeCommand() {}

    @Command(name = "ls", description = "List nodes and their disks.")
    static final class Ls extends ApiCommand {
        @Override
        public Integer call() throws IOException {
            JsonNode all = api.client().get("/v1/nodes");
            if (printedJson(all)) {
                return 0;
            }
            PrintWriter out = out();
            Table t = new Table(
                    "NODE",
                    "READY",
                    "SCHEDULING",
                    "ZONE",
                    "TAGS",
                    "DISK",
                    "MAXIMUM",
                    "AVAILABLE",
                    "RESERVED",
                    "SCHEDULED");
            for (JsonNode n : all.path("data")) {
                String name = n.path("meta").path("name").asText();
                boolean ready = false;
                for (JsonNode c : n.path("status").path("conditions")) {
                    if (c.path("type").asText().equals("Ready")) {
                        ready = c.path("status").asBoolean();
                    }
                }
                String tags = String.join(",", VolumeCommand.list(n.path("spec").path("tags")));
                var disks = n.path("status").path("disks").properties();
                if (disks.isEmpty()) {
                    t.row(
                            name,
                            ready,
                            n.path("spec").path("allowScheduling").asBoolean(),
                            zone(n),
                            tags,
                            "-",
                            "-",
                            "-",
                            "-",
                            "-");
                }
                for (var d : disks) {
                    JsonNode ds = n.path("spec").path("disks").path(d.getKey());
                    t.row(
                            name,
                            ready,
                            n.path("spec").path("allowScheduling").asBoolean()
                                    && ds.path("allowScheduling").asBoolean(true),
                            zone(n),
                            tags.isEmpty() ? "-" : tags,
                            d.getKey(),
                            Sizes.format(d.getValue().path("storageMaximum").asLong()),
                            Sizes.format(d.getValue().path("storageAvailable").asLong()),
                            Sizes.format(ds.path("storageReserved").asLong()),
                            Sizes.format(d.getValue().path("storageScheduled").asLong()));
                }
            }
            t.print(out);
            return 0;
        }

        private static String zone(JsonNode n) {
            String z = n.path("status").path("zone").asText();
            return z.isEmpty() ? "-" : z;
        }
    }

    @Command(name = "update", description = "Change a node: scheduling, tags, or one disk's settings.")
    static final class Update extends ApiCommand {
        @Parameters(index = "0", description = "the node")
        String name;

        @Option(names = "--scheduling", description = "on or off: whether new replicas may go to the node")
        String scheduling;

        @Option(names = "--tags", split = ",", description = "the node's tags (replaces them; '' for none)")
        List<String> tags;

        @Option(names = "--disk", description = "the disk the --disk-* options change")
        String disk;

        @Option(names = "--disk-scheduling", description = "on or off")
        String diskScheduling;

        @Option(names = "--disk-reserved", description = "bytes kept free on the disk, e.g. 50Gi")
        String diskReserved;

        @Option(names = "--disk-tags", split = ",", description = "the disk's tags")
        List<String> diskTags;

        @Override
        public Integer call() throws IOException {
            Map<String, Object> body = new LinkedHashMap<>();
            if (scheduling != null) {
                body.put("allowScheduling", onOff(scheduling));
            }
            if (tags != null) {
                body.put("tags", tags.stream().filter(s -> !s.isEmpty()).toList());
            }
            if (diskScheduling != null || diskReserved != null || diskTags != null) {
                if (disk == null) {
                    throw new IllegalArgumentException("--disk-* options need --disk NAME");
                }
                Map<String, Object> d = new LinkedHashMap<>();
                if (diskScheduling != null) {
                    d.put("allowScheduling", onOff(diskScheduling));
                }
                if (diskReserved != null) {
                    d.put("storageReserved", Sizes.parse(diskReserved));
                }
                if (diskTags != null) {
                    d.put("tags", diskTags.stream().filter(s -> !s.isEmpty()).toList());
                }
                body.put("disks", Map.of(disk, d));
            }
            JsonNode n = api.client().put("/v1/nodes/" + URLEncoder.encode(name, StandardCharsets.UTF_8), body);
            print(n, "node " + name + " updated");
            return 0;
        }

        private static boolean onOff(String v) {
            return switch (v) {
                case "on", "true" -> true;
                case "off", "false" -> false;
                default -> throw new IllegalArgumentException("use on or off, not '" + v + "'");
            };
        }
    }
}
