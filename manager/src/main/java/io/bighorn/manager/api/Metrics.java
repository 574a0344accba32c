package io.bighorn.manager.api;

import io.bighorn.control.v1.EngineInfo;
import io.bighorn.manager.model.Kind;
import io.bighorn.manager.model.Node;
import io.bighorn.manager.model.Replica;
import io.bighorn.manager.model.Volume;
import io.bighorn.manager.reconcile.Observations;
import io.bighorn.manager.store.Store;
import java.time.Duration;
import java.util.List;
import java.util.Locale;

/**
 * {@code /metrics} in Prometheus' text format: volumes (size, state, robustness, I/O rates and totals),
 * nodes and disks (storage), replicas and rebuild progress. Rates come from the last two readings of each
 * engine the reconciler took; totals are counters for Prometheus to rate itself.
 */
public final class Metrics {
    private final Store store;
    private final Observations observed;

    Metrics(Store store, Observations observed) {
        this.store = store;
        this.observed = observed;
    }

    String render() {
        StringBuilder out = new StringBuilder();
        List<Volume> volumes = store.list(Kind.VOLUME);
        Family capacity = new Family(out, "bighorn_volume_capacity_bytes", "gauge", "Volume size");
        for (Volume v : volumes) {
            capacity.add(
                    (double) v.spec().size(),
                    "volume",
                    v.name(),
                    "node",
                    v.status().currentNodeId());
        }
        Family actual = new Family(out, "bighorn_volume_actual_size_bytes", "gauge", "Bytes a replica holds");
        for (Volume v : volumes) {
            actual.add(
                    v.status().actualSize(),
                    "volume",
                    v.name(),
                    "node",
                    v.status().currentNodeId());
        }
        Family state = new Family(out, "bighorn_volume_state", "gauge", "1 for the volume's state");
        for (Volume v : volumes) {
            for (Volume.State s : Volume.State.values()) {
                state.add(s == v.status().state() ? 1 : 0, "volume", v.name(), "state", s.value());
            }
        }
        Family robust = new Family(out, "bighorn_volume_robustness", "gauge", "1 for the volume's robustness");
        for (Volume v : volumes) {
            for (Volume.Robustness r : Volume.Robustness.values()) {
                robust.add(r == v.status().robustness() ? 1 : 0, "volume", v.name(), "robustness", r.value());
            }
        }
        io(out, volumes);
        backups(out);
        nodes(out);
        replicas(out);
        return out.toString();
    }

    private void io(StringBuilder out, List<Volume> volumes) {
        String[][] rates = {
            {"read_iops", "Reads per second"},
            {"write_iops", "Writes per second"},
            {"read_throughput_bytes", "Bytes read per second"},
            {"write_throughput_bytes", "Bytes written per second"},
            {"read_latency_seconds", "Mean read latency over the last interval"},
            {"write_latency_seconds", "Mean write latency over the last interval"}
        };
        for (String[] r : rates) {
            Family f = new Family(out, "bighorn_volume_" + r[0], "gauge", r[1]);
            for (Volume v : volumes) {
                observed.engineSample(v.name())
                        .filter(s -> s.previous() != null)
                        .ifPresent(s -> {
                            double seconds =
                                    Duration.between(s.previousAt(), s.lastAt()).toNanos() / 1e9;
                            if (seconds > 0) {
                                f.add(rate(r[0], s.last(), s.previous(), seconds), "volume", v.name());
                            }
                        });
            }
        }
        String[][] totals = {
            {"read_ops_total", "Reads served"},
            {"write_ops_total", "Writes served"},
            {"read_bytes_total", "Bytes read"},
            {"write_bytes_total", "Bytes written"}
        };
        for (String[] t : totals) {
            Family f = new Family(out, "bighorn_volume_" + t[0], "counter", t[1]);
            for (Volume v : volumes) {
                observed.engineSample(v.name()).ifPresent(s -> {
                    EngineInfo i = s.last();
                    double value = switch (t[0]) {
                        case "read_ops_total" -> i.getReadOps();
                        case "write_ops_total" -> i.getWriteOps();
                        case "read_bytes_total" -> i.getReadBytes();
                        default -> i.getWriteBytes();
                    };
                    f.add(value, "volume", v.name());
                });
            }
        }
    }

    private static double rate(String what, EngineInfo now, EngineInfo was, double seconds) {
        return switch (what) {
            case "read_iops" -> (now.getReadOps() - was.getReadOps()) / seconds;
            case "write_iops" -> (now.getWriteOps() - was.getWriteOps()) / seconds;
            case "read_throughput_bytes" -> (now.getReadBytes() - was.getReadBytes()) / seconds;
            case "write_throughput_bytes" -> (now.getWriteBytes() - was.getWriteBytes()) / seconds;
            case "read_latency_seconds" ->
                mean(now.getReadNanos() - was.getReadNanos(), now.getReadOps() - was.getReadOps());
            default -> mean(now.getWriteNanos() - was.getWriteNanos(), now.getWriteOps() - was.getWriteOps());
        };
    }

    private static double mean(long nanos, long ops) {
        return ops == 0 ? 0 : nanos / 1e9 / ops;
    }

    private void backups(StringBuilder out) {
        Family state = new Family(out, "bighorn_backup_state", "gauge", "1 for a backup's state");
        Family done =
                new Family(out, "bighorn_backup_progress_bytes", "gauge", "Bytes of the snapshot a backup has read");
        for (var b : store.list(Kind.BACKUP)) {
            for (String s : List.of("pending", "running", "completed", "error")) {
                state.add(
                        s.equals(b.status().state()) ? 1 : 0,
                        "volume",
                        b.spec().volume(),
                        "backup",
                        b.name(),
                        "state",
                        s);
            }
            done.add((double) b.status().bytesDone(), "volume", b.spec().volume(), "backup", b.name());
        }
    }

    private void nodes(StringBuilder out) {
        List<Node> nodes = store.list(Kind.NODE);
        new Family(out, "bighorn_node_count_total", "gauge", "Nodes known").add(nodes.size());
        Family status = new Family(out, "bighorn_node_status", "gauge", "1 when the node's condition holds");
        for (Node n : nodes) {
            status.add(n.status().ready() ? 1 : 0, "node", n.name(), "condition", "ready");
            status.add(n.spec().allowScheduling() ? 1 : 0, "node", n.name(), "condition", "schedulable");
        }
        String[][] disk = {
            {"capacity", "Bytes of the disk's file system"},
            {"usage", "Bytes used on the disk's file system"},
            {"reservation", "Bytes reserved on the disk"},
            {"scheduled", "Bytes promised to replicas on the disk"}
        };
        for (String[] d : disk) {
            Family nf = new Family(out, "bighorn_node_storage_" + d[0] + "_bytes", "gauge", d[1] + ", all disks");
            Family df = new Family(out, "bighorn_disk_" + d[0] + "_bytes", "gauge", d[1]);
            for (Node n : nodes) {
                long sum = 0;
                for (var e : n.status().disks().entrySet()) {
                    Node.DiskStatus s = e.getValue();
                    Node.DiskSpec spec = n.spec().disks().get(e.getKey());
                    long value = switch (d[0]) {
                        case "capacity" -> s.storageMaximum();
                        case "usage" -> s.storageMaximum() - s.storageAvailable();
                        case "reservation" -> spec == null ? 0 : spec.storageReserved();
                        default -> s.storageScheduled();
                    };
                    sum += value;
                    df.add((double) value, "node", n.name(), "disk", e.getKey());
                }
                nf.add((double) sum, "node", n.name());
            }
        }
    }

    private void replicas(StringBuilder out) {
        Family state =
                new Family(out, "bighorn_replica_state", "gauge", "1 for a replica's mode (RW, WO, ERR) or state");
        for (Replica r : store.list(Kind.REPLICA)) {
            String mode = r.spec().failed()
                    ? "failed"
                    : r.status().mode().isEmpty()
                            ? r.status().state()
                            : r.status().mode();
            state.add(
                    1,
                    "replica",
                    r.name(),
                    "volume",
                    r.spec().volume(),
                    "node",
                    r.spec().node(),
                    "state",
                    mode);
        }
        Family progress = new Family(out, "bighorn_engine_rebuild_progress", "gauge", "Percent of a rebuild done");
        for (Volume v : store.list(Kind.VOLUME)) {
            observed.engineSample(v.name())
                    .map(Observations.EngineSample::rebuild)
                    .ifPresent(rb -> {
                        if (rb.getBytesTotal() > 0 && rb.getState().equals("running")) {
                            progress.add(
                                    100.0 * rb.getBytesDone() / rb.getBytesTotal(),
                                    "volume",
                                    v.name(),
                                    "replica",
                                    rb.getTarget());
                        }
                    });
        }
    }

    /** One metric family: its HELP and TYPE lines, then samples. */
    private record Family(StringBuilder out, String name) {
        Family(StringBuilder out, String name, String type, String help) {
            this(out, name);
            out.append("# HELP ").append(name).append(' ').append(help).append('\n');
            out.append("# TYPE ").append(name).append(' ').append(type).append('\n');
        }

        void add(double value, String... labels) {
            out.append(name);
            if (labels.length > 0) {
                out.append('{');
                for (int i = 0; i < labels.length; i += 2) {
                    if (i > 0) {
                        out.append(',');
                    }
                    out.append(labels[i])
                            .append("=\"")
                            .append(escape(labels[i + 1]))
                            .append('"');
                }
                out.append('}');
            }
            out.append(' ');
            if (value == Math.rint(value) && Math.abs(value) < 1e15) {
                out.append((long) value);
            } else {
                out.append(String.format(Locale.ROOT, "%.6g", value));
            }
            out.append('\n');
        }

        private static String escape(String s) {
            return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
        }
    }
}
