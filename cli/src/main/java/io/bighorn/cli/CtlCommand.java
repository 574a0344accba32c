package io.bighorn.cli;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.util.JsonFormat;
import io.bighorn.common.Sizes;
import io.bighorn.control.ControlClient;
import io.bighorn.control.ControlException;
import io.bighorn.control.v1.EngineInfo;
import io.bighorn.control.v1.ListSnapshotsResponse;
import io.bighorn.control.v1.PurgeSnapshotsResponse;
import io.bighorn.control.v1.RebuildStatus;
import io.bighorn.control.v1.Replica;
import io.bighorn.control.v1.Snapshot;
import java.io.PrintWriter;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code bighorn ctl --engine HOST:PORT ...}: talks to a running engine's control API. */
@Command(
        name = "ctl",
        description = "Control a running engine: info, replicas, snapshots, expand, rebuilds.",
        subcommands = {
            CtlCommand.ShowInfo.class,
            CtlCommand.Replicas.class,
            CtlCommand.SnapshotGroup.class,
            CtlCommand.Expand.class,
            CtlCommand.AddReplica.class,
            CtlCommand.RemoveReplica.class,
            CtlCommand.ShowRebuild.class,
            CtlCommand.SalvageVolume.class
        })
final class CtlCommand implements Runnable {
    @Option(
            names = "--engine",
            defaultValue = "127.0.0.1:9501",
            description = "the engine's control address (default: ${DEFAULT-VALUE})")
    String engine;

    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), "Missing required subcommand");
    }

    /** What every ctl leaf shares: the client and --json. */
    abstract static class Leaf implements Callable<Integer> {
        @Option(names = "--json", description = "print JSON")
        boolean json;

        @Spec
        CommandSpec spec;

        abstract CtlCommand ctl();

        abstract void run(ControlClient client, PrintWriter out) throws Exception;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            try (ControlClient client = new ControlClient(ctl().engine)) {
                run(client, out);
            }
            out.flush();
            return 0;
        }

        void print(PrintWriter out, MessageOrBuilder message) throws InvalidProtocolBufferException {
            out.println(JsonFormat.printer().alwaysPrintFieldsWithNoPresence().print(message));
        }

        /** Prints {@code message} as JSON with --json, else runs {@code text}. */
        void show(PrintWriter out, MessageOrBuilder message, Runnable text) throws InvalidProtocolBufferException {
            if (json) {
                print(out, message);
            } else {
                text.run();
            }
        }
    }

    /** A leaf right under {@code ctl}. */
    abstract static class TopLeaf extends Leaf {
        @ParentCommand
        CtlCommand parent;

        @Override
        CtlCommand ctl() {
            return parent;
        }
    }

    @Command(name = "info", description = "The volume, its size, epoch, frontend and replicas.")
    static final class ShowInfo extends TopLeaf {

        @Override
        void run(ControlClient client, PrintWriter out) throws Exception {
            EngineInfo info = client.info();
            if (json) {
                print(out, info);
                return;
            }
            out.printf("volume    %s%n", info.getVolume());
            out.printf("size      %s (%d bytes)%n", Sizes.format(info.getSize()), info.getSize());
            out.printf("epoch     %d%n", info.getEpoch());
            out.printf("frontend  %s (%d clients)%n", info.getFrontend(), info.getFrontendClients());
            out.printf("decision  %s%n", info.getDecision());
            printReplicas(out, info.getReplicasList());
        }
    }

    @Command(name = "replicas", description = "Each replica with its mode (RW, WO, ERR) and why it failed.")
    static final class Replicas extends TopLeaf {

        @Override
        void run(ControlClient client, PrintWriter out) throws Exception {
            EngineInfo info = client.info();
            if (json) {
                out.println("[");
                for (int i = 0; i < info.getReplicasCount(); i++) {
                    out.print(JsonFormat.printer()
                            .alwaysPrintFieldsWithNoPresence()
                            .print(info.getReplicas(i)));
                    out.println(i + 1 < info.getReplicasCount() ? "," : "");
                }
                out.println("]");
                return;
            }
            printReplicas(out, info.getReplicasList());
        }
    }

    static void printReplicas(PrintWriter out, List<Replica> replicas) {
        out.printf("%-32s %-5s %12s  %s%n", "REPLICA", "MODE", "REVISION", "REASON");
        for (Replica r : replicas) {
            out.printf("%-32s %-5s %12d  %s%n", r.getAddress(), r.getMode(), r.getRevision(), r.getReason());
        }
    }

    @Command(
            name = "snapshot",
            description = "Create, list, remove, purge and revert snapshots.",
            subcommands = {
                SnapshotGroup.Create.class,
                SnapshotGroup.Ls.class,
                SnapshotGroup.Rm.class,
                SnapshotGroup.Purge.class,
                SnapshotGroup.Revert.class
            })
    static final class SnapshotGroup implements Runnable {
        @ParentCommand
        CtlCommand parent;

        @Spec
        CommandSpec spec;

        @Override
        public void run() {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "Missing required subcommand");
        }

        abstract static class SnapshotLeaf extends Leaf {
            @ParentCommand
            SnapshotGroup group;

            @Override
            CtlCommand ctl() {
                return group.parent;
            }
        }

        @Command(name = "create", description = "Snapshot the volume (drains in-flight I/O first).")
        static final class Create extends SnapshotLeaf {
            @Parameters(paramLabel = "NAME")
            String name;

            @Option(names = "--label", paramLabel = "KEY=VALUE", description = "a label; repeatable")
            Map<String, String> labels = Map.of();

            @Override
            void run(ControlClient client, PrintWriter out) throws Exception {
                Snapshot s = client.createSnapshot(name, labels);
                if (json) {
                    print(out, s);
                } else {
                    out.printf("created snapshot %s at %s%n", s.getName(), s.getCreated());
                }
            }
        }

        @Command(name = "ls", description = "List snapshots.")
        static final class Ls extends SnapshotLeaf {
            @Override
            void run(ControlClient client, PrintWriter out) throws Exception {
                List<Snapshot> snapshots = client.listSnapshots();
                if (json) {
                    print(out, ListSnapshotsResponse.newBuilder().addAllSnapshots(snapshots));
                    return;
                }
                out.printf("%-24s %-24s %-20s %12s  %s%n", "NAME", "PARENT", "CREATED", "SIZE", "STATE");
                for (Snapshot s : snapshots) {
                    out.printf(
                            "%-24s %-24s %-20s %12s  %s%n",
                            s.getName(),
                            s.getParent().isEmpty() ? "-" : s.getParent(),
                            s.getCreated(),
                            Sizes.format(s.getAllocatedBytes()),
                            (s.getRemoved() ? "removed" : "kept") + (s.getUserCreated() ? "" : ", system"));
                }
            }
        }

        @Command(name = "rm", description = "Mark a snapshot removed; purge reclaims its space.")
        static final class Rm extends SnapshotLeaf {
            @Parameters(paramLabel = "NAME")
            String name;

            @Override
            void run(ControlClient client, PrintWriter out) {
                client.deleteSnapshot(name);
                if (!json) {
                    out.printf("removed snapshot %s (run 'snapshot purge' to reclaim its space)%n", name);
                } else {
                    out.println("{}");
                }
            }
        }

        @Command(name = "purge", description = "Fold removed snapshots away.")
        static final class Purge extends SnapshotLeaf {
            @Override
            void run(ControlClient client, PrintWriter out) throws Exception {
                List<String> purged = client.purge();
                if (json) {
                    print(out, PurgeSnapshotsResponse.newBuilder().addAllPurged(purged));
                } else {
                    out.printf("purged %s%n", purged.isEmpty() ? "nothing" : String.join(", ", purged));
                }
            }
        }

        @Command(
                name = "revert",
                description = "Revert the volume to a snapshot (no frontend client may be connected).")
        static final class Revert extends SnapshotLeaf {
            @Parameters(paramLabel = "NAME")
            String name;

            @Override
            void run(ControlClient client, PrintWriter out) {
                client.revert(name);
                out.println(json ? "{}" : "reverted to snapshot " + name);
            }
        }
    }

    @Command(
            name = "add-replica",
            description = "Add a replica (empty or stale) to the volume and rebuild it from a healthy one.")
    static final class AddReplica extends TopLeaf {
        @Parameters(
                paramLabel = "URL",
                description = "the replica, e.g. tcp://10.0.0.5:9502 or unix:///var/lib/bighorn/r1.sock")
        String url;

        @Option(
                names = "--bandwidth",
                paramLabel = "RATE",
                defaultValue = "0",
                description = "bytes per second the copy may use, e.g. 200M; 0 for no limit (default)")
        String bandwidth;

        @Option(names = "--wait", description = "wait until the rebuild ends; fail if it fails")
        boolean await;

        @Override
        void run(ControlClient client, PrintWriter out) throws Exception {
            RebuildStatus s = client.addReplica(url, Sizes.parse(bandwidth));
            if (await) {
                while (s.getState().equals("running")) {
                    Thread.sleep(500);
                    s = client.rebuildStatus();
                }
            }
            RebuildStatus shown = s;
            show(out, shown, () -> printRebuild(out, shown));
            if (await && !s.getState().equals("done")) {
                throw new ControlException(
                        "FAILED_PRECONDITION", "rebuild of " + url + " " + s.getState() + ": " + s.getError(), null);
            }
        }
    }

    @Command(name = "rm-replica", description = "Remove a replica from the volume (never the last RW one).")
    static final class RemoveReplica extends TopLeaf {
        @Parameters(paramLabel = "URL")
        String url;

        @Override
        void run(ControlClient client, PrintWriter out) throws Exception {
            EngineInfo info = client.removeReplica(url);
            show(out, info, () -> {
                out.printf("removed replica %s%n", url);
                printReplicas(out, info.getReplicasList());
            });
        }
    }

    @Command(
            name = "salvage",
            description = "Bring back a volume whose replicas all failed, from those holding every acknowledged write.")
    static final class SalvageVolume extends TopLeaf {
        @Override
        void run(ControlClient client, PrintWriter out) throws Exception {
            EngineInfo info = client.salvage();
            show(out, info, () -> {
                out.println(info.getDecision());
                printReplicas(out, info.getReplicasList());
            });
        }
    }

    @Command(name = "rebuild-status", description = "The current or last rebuild: progress, rate, source.")
    static final class ShowRebuild extends TopLeaf {
        @Override
        void run(ControlClient client, PrintWriter out) throws Exception {
            RebuildStatus s = client.rebuildStatus();
            show(out, s, () -> printRebuild(out, s));
        }
    }

    static void printRebuild(PrintWriter out, RebuildStatus s) {
        if (s.getState().equals("none")) {
            out.println("no rebuild has run");
            return;
        }
        out.printf(
                "rebuild   %s %s of %s from %s%n",
                s.getMode(), s.getState(), s.getTarget(), s.getSource().isEmpty() ? "-" : s.getSource());
        out.printf(
                "progress  %.1f%% (%s of %s), %s sent, %s of digests, %s/s%s%n",
                100 * s.getProgress(),
                Sizes.format(s.getBytesDone()),
                Sizes.format(s.getBytesTotal()),
                Sizes.format(s.getBytesSent()),
                Sizes.format(s.getDigestBytes()),
                Sizes.format(s.getBytesPerSecond()),
                s.getBandwidthLimit() > 0 ? " (limit " + Sizes.format(s.getBandwidthLimit()) + "/s)" : "");
        out.printf("started   %s%s%n", s.getStarted(), s.getFinished().isEmpty() ? "" : ", ended " + s.getFinished());
        if (!s.getError().isEmpty()) {
            out.printf("error     %s%n", s.getError());
        }
    }

    @Command(name = "expand", description = "Grow the volume online to SIZE (e.g. 20G).")
    static final class Expand extends TopLeaf {
        @Parameters(paramLabel = "SIZE")
        String size;

        @Override
        void run(ControlClient client, PrintWriter out) throws Exception {
            EngineInfo info = client.expand(Sizes.parse(size));
            if (json) {
                print(out, info);
            } else {
                out.printf("volume %s is now %s%n", info.getVolume(), Sizes.format(info.getSize()));
            }
        }
    }
}
