package io.bighorn.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bighorn.common.Sizes;
import io.bighorn.dataplane.replica.Replica;
import io.bighorn.dataplane.replica.ReplicaInfo;
import io.bighorn.dataplane.replica.SnapshotInfo;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Clock;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code bighorn replica inspect DIR}: the operator's view of a replica on disk, read-only. */
@Command(
        name = "inspect",
        description = "Show a replica's size, counters, chain, snapshots, allocated bytes per layer and index RAM."
                + " Opens the replica read-only, so it also works beside a running replica server.")
final class ReplicaInspectCommand implements Callable<Integer> {
    @Parameters(paramLabel = "DIR", description = "the replica directory")
    Path dir;

    @Option(names = "--json", description = "print JSON")
    boolean json;

    @Option(names = "--checksum", description = "also read the whole volume and print the SHA-256 of its content")
    boolean checksum;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        try (Replica replica = Replica.open(dir, true, Clock.systemUTC())) {
            ReplicaInfo info = replica.info();
            List<SnapshotInfo> snapshots = replica.snapshots();
            String sum = checksum ? sha256(replica) : null;
            if (json) {
                ObjectMapper mapper = new ObjectMapper()
                        .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
                        .enable(SerializationFeature.INDENT_OUTPUT);
                ObjectNode node = mapper.valueToTree(info);
                node.set(
                        "snapshots",
                        mapper.valueToTree(snapshots.stream()
                                .map(ReplicaInspectCommand::view)
                                .toList()));
                if (sum != null) {
                    node.put("sha256", sum);
                }
                out.println(mapper.writeValueAsString(node));
            } else {
                printText(out, info, snapshots, sum);
            }
        }
        out.flush();
        return 0;
    }

    /** Snapshot fields with the time as text, so JSON needs no time module. */
    record SnapshotView(
            String name,
            String parent,
            List<String> children,
            String created,
            long allocatedBytes,
            boolean removed,
            boolean userCreated,
            java.util.Map<String, String> labels) {}

    private static SnapshotView view(SnapshotInfo s) {
        return new SnapshotView(
                s.name(),
                s.parent(),
                s.children(),
                s.created().toString(),
                s.allocatedBytes(),
                s.removed(),
                s.userCreated(),
                s.labels());
    }

    private static void printText(PrintWriter out, ReplicaInfo info, List<SnapshotInfo> snapshots, String sum) {
        double gib = info.size() / (double) (1L << 30);
        out.printf("replica   %s%n", info.dir());
        out.printf("size      %s (%d bytes)%n", Sizes.format(info.size()), info.size());
        out.printf("epoch     %d%n", info.epoch());
        out.printf("revision  %d%n", info.revision());
        out.printf("chain     %s%n", String.join(" -> ", info.chain()));
        out.printf(
                "index     %s in RAM (%.1f KiB per GiB)%n",
                Sizes.format(info.indexRamBytes()), info.indexRamBytes() / 1024.0 / gib);
        out.printf("%nlayers%n  %-32s %-20s %14s  %s%n", "NAME", "FILE", "ALLOCATED", "STATE");
        for (ReplicaInfo.LayerInfo l : info.layers()) {
            out.printf(
                    "  %-32s %-20s %14s  %s%n",
                    l.name(),
                    l.file(),
                    Sizes.format(l.allocatedBytes()),
                    l.head() ? "head" : l.removed() ? "removed" : "snapshot");
        }
        if (!snapshots.isEmpty()) {
            out.printf("%nsnapshots%n  %-24s %-24s %-20s %-5s %s%n", "NAME", "PARENT", "CREATED", "USER", "LABELS");
            for (SnapshotInfo s : snapshots) {
                out.printf(
                        "  %-24s %-24s %-20s %-5s %s%s%n",
                        s.name(),
                        s.parent() == null ? "-" : s.parent(),
                        s.created(),
                        s.userCreated() ? "yes" : "no",
                        s.labels().isEmpty() ? "-" : s.labels(),
                        s.removed() ? " (removed)" : "");
            }
        }
        if (sum != null) {
            out.printf("%nsha256    %s%n", sum);
        }
    }

    private static String sha256(Replica replica) throws Exception {
        MessageDigest digest = MessageDigest.getInstance("SHA-256");
        int chunk = 1 << 20;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(chunk, 4096);
            byte[] bytes = new byte[chunk];
            for (long off = 0; off < replica.size(); off += chunk) {
                int n = (int) Math.min(chunk, replica.size() - off);
                MemorySegment part = buf.asSlice(0, n);
                replica.read(off, part);
                MemorySegment.ofArray(bytes).asSlice(0, n).copyFrom(part);
                digest.update(bytes, 0, n);
            }
        }
        return HexFormat.of().formatHex(digest.digest());
    }
}
