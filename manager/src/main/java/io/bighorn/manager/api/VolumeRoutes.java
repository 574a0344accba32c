package io.bighorn.manager.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bighorn.common.Names;
import io.bighorn.common.Sizes;
import io.bighorn.control.ControlException;
import io.bighorn.control.v1.Snapshot;
import io.bighorn.manager.api.ApiServer.Response;
import io.bighorn.manager.model.Backup;
import io.bighorn.manager.model.Kind;
import io.bighorn.manager.model.Meta;
import io.bighorn.manager.model.Replica;
import io.bighorn.manager.model.Volume;
import io.bighorn.manager.reconcile.SnapshotSync;
import io.bighorn.manager.reconcile.VolumeStates;
import io.bighorn.manager.reconcile.VolumeStates.Action;
import io.bighorn.manager.settings.Settings;
import io.bighorn.manager.store.Json;
import io.bighorn.manager.store.Store;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/** {@code /v1/volumes}: create, list, get, delete, the state-gated actions, and snapshots. */
final class VolumeRoutes {
    /** Volume sizes are rounded up to this, the backup block size. */
    static final long ALIGN = 2L << 20;

    static final int MAX_NAME = 40;

    private final Store store;
    private final Settings settings;
    private final Operations ops;
    private final SnapshotSync snapshots;

    private final io.bighorn.manager.reconcile.Observations observed;

    VolumeRoutes(Store store, Settings settings, Operations ops, io.bighorn.manager.reconcile.Observations observed) {
        this.observed = observed;
        this.store = store;
        this.settings = settings;
        this.ops = ops;
        this.snapshots = new SnapshotSync(store);
    }

    Response handle(Request r) {
        String name = r.segment(2);
        if (name == null) {
            if (r.method().equals("POST")) {
                return Response.json(201, view(create(r.body())));
            }
            V1Routes.method(r, "GET", "POST");
            return Response.json(
                    200,
                    Map.of(
                            "data",
                            store.list(Kind.VOLUME).stream().map(this::view).toList()));
        }
        Volume v = ops.volume(name);
        String sub = r.segment(3);
        if ("snapshots".equals(sub)) {
            return snapshots(r, v);
        }
        if ("backups".equals(sub)) {
            return backups(r, v);
        }
        if ("replicas".equals(sub)) {
            V1Routes.method(r, "GET");
            return Response.json(200, Map.of("data", replicas(v)));
        }
        if (sub != null) {
            throw ApiException.notFound("no such path under volume " + name + ": " + sub);
        }
        return switch (r.method()) {
            case "GET" -> Response.json(200, view(v));
            case "DELETE" -> {
                ops.require(v, Action.DELETE);
                Volume deleting =
                        store.update(Kind.VOLUME, v.withMeta(v.meta().withDeletionRequestedAt(Instant.now())));
                yield Response.json(202, view(deleting));
            }
            case "POST" -> Response.json(202, view(action(r, v)));
            default -> {
                V1Routes.method(r, "GET", "POST", "DELETE");
                throw new AssertionError();
            }
        };
    }

    private Volume create(JsonNode body) {
        Set<String> known = Set.of(
                "name",
                "size",
                "numberOfReplicas",
                "dataLocality",
                "nodeSelector",
                "diskSelector",
                "labels",
                "fromBackup");
        body.fieldNames().forEachRemaining(f -> {
            if (!known.contains(f)) {
                throw ApiException.badRequest("unknown field '" + f + "'; a volume takes " + known);
            }
        });
        String name = text(body, "name");
        if (name == null) {
            throw ApiException.badRequest("field 'name' is required");
        }
        Names.require("volume name", name);
        if (name.length() > MAX_NAME) {
            throw ApiException.badRequest("invalid volume name '" + name + "': at most " + MAX_NAME + " characters");
        }
        long size = size(body.get("size"));
        int replicas = body.has("numberOfReplicas")
                ? replicaCount(body.get("numberOfReplicas"))
                : (int) settings.number(Settings.DEFAULT_REPLICA_COUNT);
        String locality = text(body, "dataLocality");
        if (locality == null) {
            locality = settings.value(Settings.DEFAULT_DATA_LOCALITY);
        }
        if (!List.of("disabled", "best-effort").contains(locality)) {
            throw ApiException.badRequest("dataLocality must be disabled or best-effort, not '" + locality + "'");
        }
        Set<String> nodeSelector =
                body.has("nodeSelector") ? V1Routes.tags(body.get("nodeSelector"), "nodeSelector") : Set.of();
        Set<String> diskSelector =
                body.has("diskSelector") ? V1Routes.tags(body.get("diskSelector"), "diskSelector") : Set.of();
        String fromBackup = text(body, "fromBackup");
        if (fromBackup != null && !fromBackup.contains("://")) { // a Backup object's name
            String named = fromBackup;
            Backup b = store.get(Kind.BACKUP, named)
                    .orElseThrow(() -> ApiException.badRequest("fromBackup must be a backup's name or URL"
                            + " (…?backup=NAME&volume=VOLUME); there is no backup '" + named + "'"));
            if (!b.status().state().equals("completed")) {
                throw ApiException.badRequest(
                        "fromBackup: backup " + named + " is " + b.status().state() + ", not completed");
            }
            fromBackup = b.status().url();
        }
        if (fromBackup != null && !fromBackup.matches("(file|vfs|s3)://.*[?&]backup=[^&]+.*")) {
            throw ApiException.badRequest(
                    "fromBackup must be a backup's URL (…?backup=NAME&volume=VOLUME), not '" + fromBackup + "'");
        }
        Map<String, String> labels = new HashMap<>();
        if (body.has("labels")) {
            if (!body.get("labels").isObject()) {
                throw ApiException.badRequest("labels must be an object of strings");
            }
            body.get("labels")
                    .properties()
                    .forEach(e -> labels.put(e.getKey(), e.getValue().asText()));
        }
        return store.create(
                Kind.VOLUME,
                new Volume(
                        Meta.named(name).withLabels(labels),
                        new Volume.Spec(size, replicas, locality, nodeSelector, diskSelector, "", fromBackup),
                        Volume.Status.initial()));
    }

    private static String text(JsonNode body, String field) {
        JsonNode n = body.get(field);
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.isTextual()) {
            throw ApiException.badRequest("field '" + field + "' must be a string");
        }
        return n.asText();
    }

    /** A size in bytes or with a unit ("10Gi", "512M"), rounded up to 2 MiB. */
    static long size(JsonNode n) {
        if (n == null || n.isNull()) {
            throw ApiException.badRequest("field 'size' is required (bytes, or with a unit: 10Gi)");
        }
        long bytes;
        try {
            bytes = n.isIntegralNumber() ? n.asLong() : Sizes.parse(n.asText());
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest("invalid size " + n + ": " + e.getMessage());
        }
        if (bytes <= 0) {
            throw ApiException.badRequest("invalid size " + n + ": must be more than 0");
        }
        if (bytes > (1L << 50) - ALIGN) {
            throw ApiException.badRequest("invalid size " + n + ": at most 1 PiB");
        }
        return (bytes + ALIGN - 1) / ALIGN * ALIGN;
    }

    private static int replicaCount(JsonNode n) {
        return replicaCount(n, "numberOfReplicas");
    }

    private static int replicaCount(JsonNode n, String field) {
        if (!n.isIntegralNumber() || n.asInt() < 1 || n.asInt() > 20) {
            throw ApiException.badRequest(field + " must be an integer from 1 to 20, not " + n);
        }
        return n.asInt();
    }

    private Volume action(Request r, Volume v) {
        String action = r.query().get("action");
        if (action == null) {
            throw ApiException.badRequest("POST on a volume needs ?action=attach|detach|expand|updateReplicaCount");
        }
        return switch (action) {
            case "attach" -> {
                ops.require(v, Action.ATTACH);
                String node = r.requireText("node");
                var n = store.get(Kind.NODE, node)
                        .orElseThrow(() -> ApiException.badRequest("node '" + node + "' does not exist"));
                if (!n.status().ready()) {
                    throw ApiException.invalidState("node '" + node + "' is down");
                }
                if (!v.spec().nodeId().isEmpty() && !v.spec().nodeId().equals(node)) {
                    throw ApiException.invalidState("volume '" + v.name() + "' is attached to "
                            + v.spec().nodeId() + ": detach it first");
                }
                yield store.update(Kind.VOLUME, v.withSpec(v.spec().withNodeId(node)));
            }
            case "detach" -> {
                ops.require(v, Action.DETACH);
                yield store.update(Kind.VOLUME, v.withSpec(v.spec().withNodeId("")));
            }
            case "expand" -> {
                ops.require(v, Action.EXPAND);
                long size = size(r.body().get("size"));
                if (size < v.spec().size()) {
                    throw ApiException.badRequest("volume '" + v.name() + "' is "
                            + Sizes.format(v.spec().size()) + ": it can only grow, not shrink to "
                            + Sizes.format(size));
                }
                yield store.update(Kind.VOLUME, v.withSpec(v.spec().withSize(size)));
            }
            case "updateReplicaCount" -> {
                ops.require(v, Action.UPDATE_REPLICA_COUNT);
                JsonNode n = r.body().get("replicaCount");
                if (n == null) {
                    throw ApiException.badRequest("field 'replicaCount' is required");
                }
                yield store.update(
                        Kind.VOLUME, v.withSpec(v.spec().withNumberOfReplicas(replicaCount(n, "replicaCount"))));
            }
            default ->
                throw ApiException.badRequest(
                        "unknown action '" + action + "'; a volume takes attach, detach, expand, updateReplicaCount");
        };
    }

    private Response snapshots(Request r, Volume v) {
        String snap = r.segment(4);
        if (snap == null) {
            if (r.method().equals("POST")) {
                ops.require(v, Action.SNAPSHOT);
                String name = r.text("name");
                String snapName = name == null
                        ? "snap-"
                                + Instant.now()
                                        .atOffset(ZoneOffset.UTC)
                                        .toString()
                                        .replaceAll("[^0-9]", "")
                                        .substring(0, 14)
                        : Names.require("snapshot name", name);
                Map<String, String> labels = new HashMap<>();
                if (r.body().has("labels")) {
                    r.body()
                            .get("labels")
                            .properties()
                            .forEach(e -> labels.put(e.getKey(), e.getValue().asText()));
                }
                Snapshot created = engine(() -> ops.engine(v).createSnapshot(snapName, labels));
                syncSnapshots(v);
                return Response.json(201, snapshot(created));
            }
            V1Routes.method(r, "GET", "POST");
            if (!VolumeStates.allowed(v.status().state()).contains(Action.SNAPSHOT)) {
                // detached: the chain as the engine last reported it
                return Response.json(
                        200,
                        Map.of(
                                "data",
                                snapshots.of(v.name()).stream()
                                        .map(VolumeRoutes::snapshot)
                                        .toList()));
            }
            List<Snapshot> list = syncSnapshots(v);
            return Response.json(
                    200,
                    Map.of("data", list.stream().map(VolumeRoutes::snapshot).toList()));
        }
        if (r.method().equals("GET")) {
            return Response.json(
                    200,
                    snapshot(store.get(Kind.SNAPSHOT, io.bighorn.manager.model.Snapshot.objectName(v.name(), snap))
                            .orElseThrow(() ->
                                    ApiException.notFound("volume " + v.name() + " has no snapshot '" + snap + "'"))));
        }
        ops.require(v, Action.SNAPSHOT);
        switch (r.method()) {
            case "DELETE" -> {
                engine(() -> {
                    ops.engine(v).deleteSnapshot(snap);
                    return ops.engine(v).purge();
                });
                syncSnapshots(v);
                return new Response(204, "application/json", new byte[0]);
            }
            case "POST" -> {
                if (!"revert".equals(r.query().get("action"))) {
                    throw ApiException.badRequest("POST on a snapshot needs ?action=revert");
                }
                ops.require(v, Action.REVERT);
                engine(() -> {
                    ops.engine(v).revert(snap);
                    return null;
                });
                syncSnapshots(v);
                return Response.json(202, view(v));
            }
            default -> {
                V1Routes.method(r, "DELETE", "POST");
                throw new AssertionError();
            }
        }
    }

    /** {@code /v1/volumes/V/backups}: list the volume's backups, or back a snapshot up (attached volumes). */
    private Response backups(Request r, Volume v) {
        if (r.method().equals("POST")) {
            ops.require(v, Action.SNAPSHOT);
            String snapshot = Names.require("snapshot name", r.requireText("snapshot"));
            if (settings.value(Settings.BACKUP_TARGET).isEmpty()) {
                throw ApiException.invalidState("no backup target: set the backup-target setting first");
            }
            boolean exists = engine(() -> ops.engine(v).listSnapshots()).stream()
                    .anyMatch(s -> s.getName().equals(snapshot) && !s.getRemoved());
            if (!exists) {
                throw ApiException.notFound("volume " + v.name() + " has no snapshot '" + snapshot + "'");
            }
            Map<String, String> labels = new HashMap<>();
            if (r.body().has("labels")) {
                r.body()
                        .get("labels")
                        .properties()
                        .forEach(e -> labels.put(e.getKey(), e.getValue().asText()));
            }
            byte[] id = new byte[8];
            new java.security.SecureRandom().nextBytes(id);
            Backup b = store.create(
                    Kind.BACKUP,
                    new Backup(
                            Meta.named("backup-" + java.util.HexFormat.of().formatHex(id)),
                            new Backup.Spec(v.name(), snapshot, labels),
                            Backup.Status.pending()));
            return Response.json(201, b);
        }
        V1Routes.method(r, "GET", "POST");
        return Response.json(
                200,
                Map.of(
                        "data",
                        store.list(Kind.BACKUP).stream()
                                .filter(b -> b.spec().volume().equals(v.name()))
                                .toList()));
    }

    private static <T> T engine(Supplier<T> call) {
        try {
            return call.get();
        } catch (ControlException e) {
            throw V1Routes.engineError(e);
        }
    }

    /** The engine's chain, mirrored into the Snapshot objects on the way. */
    private List<Snapshot> syncSnapshots(Volume v) {
        List<Snapshot> list = engine(() -> ops.engine(v).listSnapshots());
        snapshots.sync(v.name(), list);
        return list;
    }

    private static ObjectNode snapshot(io.bighorn.manager.model.Snapshot s) {
        ObjectNode o = Json.MAPPER
                .createObjectNode()
                .put("name", s.spec().snapshot())
                .put("parent", s.status().parent())
                .put("created", s.status().created())
                .put("size", s.status().size())
                .put("removed", s.status().removed())
                .put("userCreated", s.status().userCreated());
        o.set("children", Json.MAPPER.valueToTree(s.status().children()));
        o.set("labels", Json.MAPPER.valueToTree(s.status().labels()));
        return o;
    }

    private static ObjectNode snapshot(Snapshot s) {
        ObjectNode o = Json.MAPPER
                .createObjectNode()
                .put("name", s.getName())
                .put("parent", s.getParent())
                .put("created", s.getCreated())
                .put("size", s.getAllocatedBytes())
                .put("removed", s.getRemoved())
                .put("userCreated", s.getUserCreated());
        o.set("children", Json.MAPPER.valueToTree(s.getChildrenList()));
        o.set("labels", Json.MAPPER.valueToTree(s.getLabelsMap()));
        return o;
    }

    private List<Replica> replicas(Volume v) {
        return store.list(Kind.REPLICA).stream()
                .filter(x -> x.spec().volume().equals(v.name()))
                .toList();
    }

    /** How far the replicas being restored from a backup have got, as their agents last reported. */
    private java.util.Optional<ObjectNode> restore(List<Replica> replicas) {
        long done = 0;
        long total = 0;
        int restoring = 0;
        for (Replica r : replicas) {
            var i = observed.instance(r.spec().node(), r.name());
            if (i.isPresent() && i.get().getRestoring()) {
                restoring++;
                done += i.get().getRestoreBytesDone();
                total += i.get().getRestoreBytesTotal();
            }
        }
        if (restoring == 0) {
            return java.util.Optional.empty();
        }
        return java.util.Optional.of(Json.MAPPER
                .createObjectNode()
                .put("replicas", restoring)
                .put("bytesDone", done)
                .put("bytesTotal", total));
    }

    /** The volume as the API shows it: the object, its replicas, and the actions its state allows. */
    private ObjectNode view(Volume v) {
        ObjectNode o = Json.MAPPER.valueToTree(v);
        List<Replica> replicas = replicas(v);
        o.set("replicas", Json.MAPPER.valueToTree(replicas));
        restore(replicas).ifPresent(r -> o.set("restore", r));
        store.get(Kind.ENGINE, io.bighorn.manager.reconcile.VolumeController.engineName(v.name()))
                .ifPresent(e -> o.set("engine", Json.MAPPER.valueToTree(e)));
        o.set(
                "actions",
                Json.MAPPER.valueToTree(
                        v.meta().deleting()
                                ? List.of()
                                : VolumeStates.allowed(v.status().state()).stream()
                                        .map(a -> a.name().toLowerCase(Locale.ROOT))
                                        .sorted()
                                        .toList()));
        return o;
    }
}
