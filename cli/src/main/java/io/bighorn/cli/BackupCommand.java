package io.bighorn.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.bighorn.backup.BackupConfig;
import io.bighorn.backup.BackupOptions;
import io.bighorn.backup.BackupResult;
import io.bighorn.backup.BackupUrl;
import io.bighorn.backup.Backupstore;
import io.bighorn.backup.DeleteResult;
import io.bighorn.backup.DirectoryRestore;
import io.bighorn.backup.ReplicaSnapshotSource;
import io.bighorn.backup.RestoreResult;
import io.bighorn.backup.SnapshotSource;
import io.bighorn.backup.VolumeConfig;
import io.bighorn.common.Sizes;
import io.bighorn.control.ControlClient;
import io.bighorn.control.v1.EngineInfo;
import io.bighorn.control.v1.Replica;
import io.bighorn.dataplane.wire.ClusterSecret;
import io.bighorn.dataplane.wire.WireReplicaEndpoint;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code bighorn backup ...}: backups of a running engine's snapshots to a file or S3 target in Longhorn's
 * backupstore format, and their listing, inspection, deletion and restore. S3 settings come from the
 * environment, with Longhorn's names (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINTS, AWS_CERT,
 * VIRTUAL_HOSTED_STYLE).
 */
@Command(
        name = "backup",
        description = "Back up snapshots to a file:// or s3:// target; list, inspect, delete and restore backups."
                + " Forms that name no target URL go through the manager (--server) and its backup target.",
        subcommands = {
            BackupCommand.Create.class,
            BackupCommand.Ls.class,
            BackupCommand.Inspect.class,
            BackupCommand.Rm.class,
            BackupCommand.Restore.class,
            BackupCommand.Target.class
        })
final class BackupCommand implements Runnable {
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), "Missing required subcommand");
    }

    abstract static class Leaf implements Callable<Integer> {
        /** --json, and where the manager's API is for the forms without a target URL. */
        @picocli.CommandLine.Mixin
        ApiClient.Options api;

        boolean json;

        @Spec
        CommandSpec spec;

        abstract void run(PrintWriter out) throws Exception;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            json = api.json;
            run(out);
            out.flush();
            return 0;
        }

        void printJson(PrintWriter out, Object value) throws IOException {
            out.println(JSON.writeValueAsString(value));
        }
    }

    @Command(
            name = "create",
            description = "Back up a snapshot of a running engine's volume (--engine, --target), or through the"
                    + " manager a snapshot of an attached volume (--volume) to the backup target it is set to.")
    static final class Create extends Leaf {
        @Option(names = "--engine", paramLabel = "HOST:PORT", description = "the engine's control address")
        String engine;

        @Option(names = "--volume", paramLabel = "VOLUME", description = "through the manager: the volume")
        String volume;

        @Option(names = "--wait", description = "through the manager: follow the backup to its end")
        boolean await;

        @Option(names = "--snapshot", required = true, paramLabel = "NAME", description = "the snapshot to back up")
        String snapshot;

        @Option(
                names = "--target",
                paramLabel = "URL",
                description = "file:///path or s3://bucket@region/path (with --engine)")
        String target;

        @Option(names = "--name", paramLabel = "NAME", description = "the backup's name (default: backup-<random>)")
        String name;

        @Option(names = "--full", description = "upload every block, even those the target has")
        boolean full;

        @Option(names = "--block-size", paramLabel = "2Mi|16Mi", description = "block size of a new backup volume")
        String blockSize;

        @Option(
                names = "--compression",
                paramLabel = "lz4|gzip|none",
                description = "for a new backup volume (default lz4)")
        String compression;

        @Option(
                names = "--concurrency",
                defaultValue = "4",
                description = "blocks uploaded at once (default ${DEFAULT-VALUE})")
        int concurrency;

        @Option(names = "--label", paramLabel = "KEY=VALUE", description = "a label; repeatable")
        Map<String, String> labels = Map.of();

        @Option(
                names = "--secret-file",
                paramLabel = "FILE",
                description = "the cluster secret; default: the " + ClusterSecret.ENV + " variable")
        Path secretFile;

        @Override
        void run(PrintWriter out) throws Exception {
            if (volume != null) {
                if (engine != null || target != null) {
                    throw new IllegalArgumentException(
                            "give --volume (through the manager) or --engine and --target (directly), not both");
                }
                new BackupApi(api, out).create(volume, snapshot, await);
                return;
            }
            if (engine == null || target == null) {
                throw new IllegalArgumentException(
                        "give --volume VOLUME (through the manager), or --engine HOST:PORT and --target URL");
            }
            BackupOptions options = BackupOptions.defaults()
                    .withName(name)
                    .withFull(full)
                    .withBlockSize(blockSize == null ? 0 : BackupOptions.parseBlockSize(blockSize))
                    .withCompression(compression)
                    .withConcurrency(concurrency)
                    .withLabels(labels);
            EngineInfo info;
            try (ControlClient client = new ControlClient(engine)) {
                info = client.info();
            }
            ClusterSecret secret = ClusterSecret.resolve(secretFile, System.getenv());
            BackupResult r;
            try (Backupstore store = Backupstore.open(target, System.getenv());
                    SnapshotSource source = openSource(info, secret);
                    ProgressPrinter progress = ProgressPrinter.forStderr("backup " + info.getVolume(), json)) {
                r = store.backup(info.getVolume(), source, options, progress);
            }
            if (json) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("url", r.url());
                m.put("name", r.config().name());
                m.put("volume", r.config().volumeName());
                m.put("snapshot", r.config().snapshotName());
                m.put("incremental", r.incremental());
                m.put("base", r.base());
                m.put("blocksScanned", r.blocksScanned());
                m.put("blocksChanged", r.blocksChanged());
                m.put("blocksUploaded", r.blocksUploaded());
                m.put("bytesRead", r.bytesRead());
                m.put("bytesUploaded", r.bytesUploaded());
                m.put("millis", r.millis());
                printJson(out, m);
            } else {
                out.printf("backed up snapshot %s of %s as %s%n", snapshot, info.getVolume(), r.url());
                out.printf(
                        "%s: %d of %d blocks changed, %d uploaded (%s read, %s stored) in %.1f s%n",
                        r.incremental() ? "incremental on " + r.base() : "full",
                        r.blocksChanged(),
                        r.blocksScanned(),
                        r.blocksUploaded(),
                        Sizes.format(r.bytesRead()),
                        Sizes.format(r.bytesUploaded()),
                        r.millis() / 1000.0);
            }
        }

        /** Reads the snapshot from the first RW replica that answers. */
        private SnapshotSource openSource(EngineInfo info, ClusterSecret secret) throws IOException {
            List<String> errors = new ArrayList<>();
            for (Replica rep : info.getReplicasList()) {
                if (!rep.getMode().equals("RW")) {
                    continue;
                }
                WireReplicaEndpoint ep = null;
                try {
                    ep = WireReplicaEndpoint.connect(rep.getAddress(), secret);
                    return ReplicaSnapshotSource.open(ep, snapshot, true);
                } catch (IllegalArgumentException e) {
                    if (ep != null) {
                        ep.close();
                    }
                    throw e;
                } catch (IOException | RuntimeException e) {
                    if (ep != null) {
                        ep.close();
                    }
                    errors.add(rep.getAddress() + ": " + e.getMessage());
                }
            }
            throw new IOException("no healthy (RW) replica of " + info.getVolume() + " to read from"
                    + (errors.isEmpty() ? "" : ": " + String.join("; ", errors)));
        }
    }

    @Command(
            name = "ls",
            description = "List the backup volumes of a target, or the backups of one volume; without a target,"
                    + " those of the manager's backup target.")
    static final class Ls extends Leaf {
        @Parameters(
                arity = "0..1",
                paramLabel = "TARGET",
                description = "file:///path or s3://bucket@region/path (default: through the manager)")
        String target;

        @Option(names = "--volume", paramLabel = "VOLUME", description = "list this volume's backups")
        String volume;

        @Override
        void run(PrintWriter out) throws Exception {
            if (target == null) {
                new BackupApi(api, out).ls(volume);
                return;
            }
            try (Backupstore store = Backupstore.open(target, System.getenv())) {
                if (volume == null) {
                    List<Map<String, Object>> rows = new ArrayList<>();
                    for (VolumeConfig c : store.volumeConfigs()) {
                        String v = c.name();
                        Map<String, Object> m = new LinkedHashMap<>();
                        m.put("name", c.name());
                        m.put("size", c.size());
                        m.put("created", c.createdTime());
                        m.put("lastBackup", c.lastBackupName());
                        m.put("lastBackupAt", c.lastBackupAt());
                        m.put("blockCount", c.blockCount());
                        m.put("compression", c.compressionMethod());
                        m.put("url", new BackupUrl(store.url(), v, null).toString());
                        rows.add(m);
                    }
                    if (json) {
                        printJson(out, rows);
                        return;
                    }
                    out.printf("%-24s %10s %8s  %-24s %s%n", "VOLUME", "SIZE", "BLOCKS", "LAST BACKUP", "AT");
                    for (Map<String, Object> m : rows) {
                        out.printf(
                                "%-24s %10s %8d  %-24s %s%n",
                                m.get("name"),
                                Sizes.format((Long) m.get("size")),
                                (Long) m.get("blockCount"),
                                m.get("lastBackup"),
                                m.get("lastBackupAt"));
                    }
                    return;
                }
                List<BackupConfig> backups = store.backups(volume);
                if (json) {
                    List<Map<String, Object>> rows = new ArrayList<>();
                    for (BackupConfig b : backups) {
                        rows.add(summary(store.url(), b));
                    }
                    printJson(out, rows);
                    return;
                }
                out.printf(
                        "%-24s %-20s %-21s %-10s %10s  %s%n", "BACKUP", "SNAPSHOT", "CREATED", "STATE", "SIZE", "URL");
                for (BackupConfig b : backups) {
                    out.printf(
                            "%-24s %-20s %-21s %-10s %10s  %s%n",
                            b.name(),
                            b.snapshotName(),
                            b.createdTime(),
                            b.complete() ? "complete" : "incomplete",
                            Sizes.format(b.size()),
                            new BackupUrl(store.url(), volume, b.name()));
                }
            }
        }
    }

    static Map<String, Object> summary(String target, BackupConfig b) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", b.name());
        m.put("volume", b.volumeName());
        m.put("url", new BackupUrl(target, b.volumeName(), b.name()).toString());
        m.put("snapshot", b.snapshotName());
        m.put("snapshotCreatedAt", b.snapshotCreatedAt());
        m.put("created", b.createdTime());
        m.put("state", b.complete() ? "complete" : "incomplete");
        m.put("size", b.size());
        m.put("incremental", b.isIncremental());
        m.put("compression", b.compressionMethod());
        m.put("blockSize", b.blockSize());
        m.put("blocks", b.blocks().size());
        m.put("newlyUploadedDataSize", b.newlyUploadedDataSize());
        m.put("reUploadedDataSize", b.reUploadedDataSize());
        m.put("labels", b.labels());
        m.put("parameters", b.parameters());
        return m;
    }

    @Command(
            name = "inspect",
            description = "Show one backup: TARGET?backup=NAME&volume=VOLUME, or a backup's name in the manager.")
    static final class Inspect extends Leaf {
        @Parameters(paramLabel = "BACKUP_URL|NAME")
        String url;

        @Override
        void run(PrintWriter out) throws Exception {
            if (!url.contains("://")) {
                new BackupApi(api, out).inspect(url);
                return;
            }
            BackupUrl u = BackupUrl.parse(url);
            if (u.backup() == null) {
                throw new IllegalArgumentException("backup URL " + url + " names no backup (…?backup=NAME&volume=V)");
            }
            try (Backupstore store = Backupstore.open(u.target(), System.getenv())) {
                Map<String, Object> m = summary(store.url(), store.backup(u.volume(), u.backup()));
                if (json) {
                    printJson(out, m);
                    return;
                }
                m.forEach((k, v) -> out.printf("%-22s %s%n", k, v));
            }
        }
    }

    @Command(
            name = "rm",
            description = "Delete a backup and the blocks no other backup uses; with --whole-volume and a URL "
                    + "without backup=, the whole backup volume.")
    static final class Rm extends Leaf {
        @Parameters(paramLabel = "BACKUP_URL|NAME", description = "a backup's URL, or its name in the manager")
        String url;

        @Option(
                names = "--whole-volume",
                description = "delete every backup of the volume the URL names (through the manager: NAME is the"
                        + " volume)")
        boolean wholeVolume;

        @Override
        void run(PrintWriter out) throws Exception {
            if (!url.contains("://")) {
                new BackupApi(api, out).rm(url, wholeVolume);
                return;
            }
            BackupUrl u = BackupUrl.parse(url);
            try (Backupstore store = Backupstore.open(u.target(), System.getenv())) {
                if (u.backup() == null) {
                    if (!wholeVolume) {
                        throw new IllegalArgumentException("backup URL " + url
                                + " names no backup: add backup=NAME, or --whole-volume to delete every backup of "
                                + u.volume());
                    }
                    store.deleteVolume(u.volume());
                    if (json) {
                        printJson(out, Map.of("deletedVolume", u.volume()));
                    } else {
                        out.printf("deleted backup volume %s%n", u.volume());
                    }
                    return;
                }
                DeleteResult d = store.delete(u.volume(), u.backup());
                if (json) {
                    Map<String, Object> m = new LinkedHashMap<>();
                    m.put("deleted", d.backup());
                    m.put("blocksRemoved", d.blocksRemoved());
                    m.put("blocksLeft", d.blocksLeft());
                    m.put("gcSkipped", d.gcSkipped());
                    printJson(out, m);
                } else {
                    out.printf(
                            "deleted backup %s; %d unused blocks removed, %d left%s%n",
                            d.backup(),
                            d.blocksRemoved(),
                            d.blocksLeft(),
                            d.gcSkipped() == null ? "" : " (garbage collection skipped: " + d.gcSkipped() + ")");
                }
            }
        }
    }

    @Command(
            name = "restore",
            description = "Restore a backup into new replica directories (incrementally into directories that "
                    + "hold an earlier restore of the same backup volume; serve them with `bighorn replica`), "
                    + "or into a volume served over NBD (a running engine's new volume).")
    static final class Restore extends Leaf {
        @Parameters(paramLabel = "BACKUP_URL")
        String url;

        @Option(names = "--replica-dir", paramLabel = "DIR", description = "a replica directory; repeatable")
        List<Path> dirs = List.of();

        @Option(
                names = "--nbd",
                paramLabel = "URL",
                description =
                        "nbd://HOST:PORT/EXPORT of a volume to overwrite with the backup; no client may use it meanwhile")
        String nbd;

        @Option(
                names = "--concurrency",
                defaultValue = "4",
                description = "blocks downloaded at once (default ${DEFAULT-VALUE})")
        int concurrency;

        @Override
        void run(PrintWriter out) throws Exception {
            if (!url.contains("://")) {
                throw new IllegalArgumentException("to restore backup " + url + " through the manager, create a"
                        + " volume from it: bighorn volume create NAME --size SIZE --from-backup " + url);
            }
            BackupUrl u = BackupUrl.parse(url);
            if (u.backup() == null) {
                throw new IllegalArgumentException("backup URL " + url + " names no backup (…?backup=NAME&volume=V)");
            }
            if (concurrency < 1 || concurrency > 64) {
                throw new IllegalArgumentException("--concurrency must be 1 to 64");
            }
            if (dirs.isEmpty() == (nbd == null)) {
                throw new IllegalArgumentException("restore into --replica-dir DIR… or into --nbd URL (one of them)");
            }
            RestoreResult r;
            try (Backupstore store = Backupstore.open(u.target(), System.getenv());
                    ProgressPrinter progress = ProgressPrinter.forStderr("restore " + u.backup(), json)) {
                r = nbd != null
                        ? intoNbd(store, u, progress)
                        : DirectoryRestore.restore(store, u.volume(), u.backup(), dirs, concurrency, progress);
            }
            if (json) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("backup", r.backup().name());
                m.put("volume", r.backup().volumeName());
                m.put("replicaDirs", dirs.stream().map(Path::toString).toList());
                m.put("nbd", nbd);
                m.put("incrementalFrom", r.incrementalFrom());
                m.put("blocksWritten", r.blocksWritten());
                m.put("blocksZeroed", r.blocksZeroed());
                m.put("bytesDownloaded", r.bytesDownloaded());
                m.put("bytesWritten", r.bytesWritten());
                m.put("millis", r.millis());
                printJson(out, m);
            } else {
                out.printf(
                        "restored %s of %s into %s%s: %d blocks (%s) in %.1f s%n",
                        r.backup().name(),
                        r.backup().volumeName(),
                        nbd != null ? nbd : dirs,
                        r.incrementalFrom() == null ? "" : " (incrementally from " + r.incrementalFrom() + ")",
                        r.blocksWritten(),
                        Sizes.format(r.bytesWritten()),
                        r.millis() / 1000.0);
            }
        }

        /** Overwrites the volume at --nbd: zeroes what the backup does not hold, writes its blocks, flushes. */
        private RestoreResult intoNbd(Backupstore store, BackupUrl u, ProgressPrinter progress) throws IOException {
            BackupConfig backup = store.backup(u.volume(), u.backup());
            if (!backup.complete()) {
                throw new io.bighorn.backup.CorruptBackupException("backup " + u.backup() + " of volume " + u.volume()
                        + " is incomplete (in progress, or it failed)");
            }
            long needed = store.volume(u.volume()).size();
            try (NbdRestoreSink sink = new NbdRestoreSink(nbd)) {
                if (sink.size() < needed) {
                    throw new IllegalArgumentException(nbd + " holds " + sink.size() + " bytes; backup " + u.backup()
                            + " needs " + needed + ": expand the volume first");
                }
                sink.zeroGaps(backup);
                RestoreResult r = store.restore(u.volume(), u.backup(), null, sink, concurrency, progress);
                sink.flush();
                return r;
            }
        }
    }

    @Command(
            name = "target",
            description = "The manager's backup target (setting backup-target): whether the last listing worked;"
                    + " --sync lists it again now.")
    static final class Target extends Leaf {
        @Option(names = "--sync", description = "list the target now and wait for that listing")
        boolean sync;

        @Override
        void run(PrintWriter out) throws Exception {
            new BackupApi(api, out).target(sync);
        }
    }
}
