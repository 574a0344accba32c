package io.bighorn.manager.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bighorn.control.ControlException;
import io.bighorn.manager.api.ApiServer.Response;
import io.bighorn.manager.model.Backup;
import io.bighorn.manager.model.BackupTarget;
import io.bighorn.manager.model.BackupVolume;
import io.bighorn.manager.model.Kind;
import io.bighorn.manager.model.Node;
import io.bighorn.manager.model.Setting;
import io.bighorn.manager.reconcile.BackupTargetController;
import io.bighorn.manager.reconcile.EngineApi;
import io.bighorn.manager.reconcile.NodeController;
import io.bighorn.manager.reconcile.Observations;
import io.bighorn.manager.settings.SettingDefinition;
import io.bighorn.manager.settings.Settings;
import io.bighorn.manager.store.Event;
import io.bighorn.manager.store.Json;
import io.bighorn.manager.store.Store;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** The routes of the API: volumes (in {@link VolumeRoutes}), nodes, settings, events, metrics, OpenAPI. */
public final class V1Routes implements ApiServer.Routes {
    private final Store store;
    private final Settings settings;
    private final NodeController nodes;
    private final VolumeRoutes volumes;
    private final Metrics metrics;

    private final java.time.Clock clock;

    public V1Routes(
            Store store,
            Settings settings,
            NodeController nodes,
            Observations observed,
            java.time.Clock clock,
            EngineApi.Connector engines) {
        this.store = store;
        this.clock = clock;
        this.settings = settings;
        this.nodes = nodes;
        Operations ops = new Operations(store, engines);
        this.volumes = new VolumeRoutes(store, settings, ops, observed);
        this.metrics = new Metrics(store, observed);
    }

    /** The engine statistics metrics keep between scrapes. */
    public Metrics metrics() {
        return metrics;
    }

    @Override
    public Response handle(Request r) {
        String top = r.segment(0);
        if ("metrics".equals(top) && r.path().size() == 1 && r.method().equals("GET")) {
            return Response.text("text/plain; version=0.0.4; charset=utf-8", metrics.render());
        }
        if (!"v1".equals(top)) {
            throw ApiException.notFound("no such path: /" + String.join("/", r.path()) + " (the API is under /v1)");
        }
        String collection = r.segment(1);
        if (collection == null) {
            return Response.json(
                    200,
                    Map.of(
                            "collections",
                            List.of(
                                    "volumes",
                                    "nodes",
                                    "settings",
                                    "backuptargets",
                                    "backupvolumes",
                                    "backups",
                                    "events",
                                    "openapi")));
        }
        return switch (collection) {
            case "volumes" -> volumes.handle(r);
            case "nodes" -> nodes(r);
            case "settings" -> settings(r);
            case "backups" -> backups(r);
            case "backupvolumes" -> backupVolumes(r);
            case "backuptargets" -> backupTargets(r);
            case "events" -> events(r);
            case "openapi" -> openapi(r);
            case "internal" -> heartbeat(r);
            default -> throw ApiException.notFound("no such collection: " + collection);
        };
    }

    static void method(Request r, String... allowed) {
        if (!List.of(allowed).contains(r.method())) {
            throw new ApiException(
                    405, "MethodNotAllowed", r.method() + " is not allowed here; use " + String.join(" or ", allowed));
        }
    }

    private Response nodes(Request r) {
        String name = r.segment(2);
        if (name == null) {
            method(r, "GET");
            return Response.json(200, Map.of("data", store.list(Kind.NODE)));
        }
        Node n = store.get(Kind.NODE, name)
                .orElseThrow(() -> ApiException.notFound("node '" + name + "' does not exist"));
        switch (r.method()) {
            case "GET" -> {
                return Response.json(200, n);
            }
            case "PUT" -> {
                return Response.json(200, store.update(Kind.NODE, updateNode(n, r.body())));
            }
            case "DELETE" -> {
                if (n.status().ready()) {
                    throw ApiException.invalidState("node '" + name + "' is up: stop its agent before removing it");
                }
                boolean holds = store.list(Kind.REPLICA).stream()
                        .anyMatch(x -> x.spec().node().equals(name));
                if (holds) {
                    throw ApiException.invalidState("node '" + name + "' still holds replicas");
                }
                store.delete(Kind.NODE, name);
                return new Response(204, "application/json", new byte[0]);
            }
            default -> {
                method(r, "GET", "PUT", "DELETE");
                throw new AssertionError();
            }
        }
    }

    /** A partial update: only the fields present change. */
    private static Node updateNode(Node n, JsonNode body) {
        Set<String> known = Set.of("allowScheduling", "tags", "disks");
        body.fieldNames().forEachRemaining(f -> {
            if (!known.contains(f)) {
                throw ApiException.badRequest("unknown field '" + f + "'; a node update takes " + known);
            }
        });
        boolean allow = n.spec().allowScheduling();
        if (body.has("allowScheduling")) {
            if (!body.get("allowScheduling").isBoolean()) {
                throw ApiException.badRequest("allowScheduling must be true or false");
            }
            allow = body.get("allowScheduling").asBoolean();
        }
        Set<String> tags =
                body.has("tags") ? tags(body.get("tags"), "tags") : n.spec().tags();
        Map<String, Node.DiskSpec> disks = new HashMap<>(n.spec().disks());
        if (body.has("disks")) {
            if (!body.get("disks").isObject()) {
                throw ApiException.badRequest("disks must be an object of disk name to settings");
            }
            for (Map.Entry<String, JsonNode> e : body.get("disks").properties()) {
                Node.DiskSpec old = disks.get(e.getKey());
                if (old == null) {
                    throw ApiException.badRequest("node '" + n.name() + "' has no disk '" + e.getKey() + "'");
                }
                JsonNode d = e.getValue();
                long reserved =
                        d.has("storageReserved") ? d.get("storageReserved").asLong(-1) : old.storageReserved();
                if (reserved < 0) {
                    throw ApiException.badRequest("storageReserved must be a number of bytes, 0 or more");
                }
                disks.put(
                        e.getKey(),
                        new Node.DiskSpec(
                                d.has("allowScheduling")
                                        ? d.get("allowScheduling").asBoolean()
                                        : old.allowScheduling(),
                                reserved,
                                d.has("tags") ? tags(d.get("tags"), "tags") : old.tags()));
            }
        }
        return n.withSpec(new Node.Spec(allow, tags, disks));
    }

    static Set<String> tags(JsonNode node, String field) {
        if (!node.isArray()) {
            throw ApiException.badRequest(field + " must be a list of strings");
        }
        Set<String> out = new HashSet<>();
        for (JsonNode t : node) {
            if (!t.isTextual() || !t.asText().matches("[A-Za-z0-9][A-Za-z0-9._-]{0,62}")) {
                throw ApiException.badRequest("invalid tag " + t + " in " + field);
            }
            out.add(t.asText());
        }
        return out;
    }

    /** {@code /v1/backuptargets[/default]}: the target, and {@code POST ?action=sync} to list it now. */
    private Response backupTargets(Request r) {
        String name = r.segment(2);
        if (name == null) {
            method(r, "GET");
            return Response.json(200, Map.of("data", store.list(Kind.BACKUP_TARGET)));
        }
        if (store.get(Kind.BACKUP_TARGET, name).isEmpty()) {
            throw ApiException.notFound(
                    "backup target '" + name + "' does not exist (there is one: " + BackupTarget.DEFAULT + ")");
        }
        if (r.method().equals("POST")) {
            if (!"sync".equals(r.query().get("action"))) {
                throw ApiException.badRequest("POST on a backup target needs ?action=sync");
            }
            BackupTargetController.requestSync(store, clock);
            return Response.json(202, store.get(Kind.BACKUP_TARGET, name).orElseThrow());
        }
        method(r, "GET", "POST");
        return Response.json(200, store.get(Kind.BACKUP_TARGET, name).orElseThrow());
    }

    /**
     * {@code /v1/backupvolumes[/V]}: the volumes the backup target holds backups of, as its last listing
     * found them; one with its backups; {@code DELETE} removes every backup of it from the target.
     */
    private Response backupVolumes(Request r) {
        String name = r.segment(2);
        if (name == null) {
            method(r, "GET");
            return Response.json(200, Map.of("data", store.list(Kind.BACKUP_VOLUME)));
        }
        BackupVolume bv = store.get(Kind.BACKUP_VOLUME, name)
                .orElseThrow(() -> ApiException.notFound("the backup target holds no backup volume '" + name
                        + "' (as of its last listing; POST /v1/backuptargets/default?action=sync lists it again)"));
        List<Backup> backups = store.list(Kind.BACKUP).stream()
                .filter(b -> b.spec().volume().equals(name)
                        && b.status().target().equals(bv.status().target()))
                .toList();
        switch (r.method()) {
            case "GET" -> {
                ObjectNode o = Json.MAPPER.valueToTree(bv);
                o.set("backups", Json.MAPPER.valueToTree(backups));
                return Response.json(200, o);
            }
            case "DELETE" -> {
                Optional<Backup> running =
                        backups.stream().filter(b -> !b.status().finished()).findFirst();
                if (running.isPresent()) {
                    throw ApiException.invalidState("backup " + running.get().name() + " of " + name
                            + " is still running; delete the backup volume once it has finished");
                }
                return Response.json(202, markDeleted(Kind.BACKUP_VOLUME, bv));
            }
            default -> {
                method(r, "GET", "DELETE");
                throw new AssertionError();
            }
        }
    }

    /** {@code /v1/backups[/B]}: every backup, one, or {@code DELETE} one (from the target too). */
    private Response backups(Request r) {
        String name = r.segment(2);
        if (name == null) {
            method(r, "GET");
            return Response.json(200, Map.of("data", store.list(Kind.BACKUP)));
        }
        Backup b = store.get(Kind.BACKUP, name)
                .orElseThrow(() -> ApiException.notFound("backup '" + name + "' does not exist"));
        switch (r.method()) {
            case "GET" -> {
                return Response.json(200, b);
            }
            case "DELETE" -> {
                if (!b.status().finished()) {
                    throw ApiException.invalidState(
                            "backup " + name + " is " + b.status().state() + "; delete it once it has finished");
                }
                return Response.json(202, markDeleted(Kind.BACKUP, b));
            }
            default -> {
                method(r, "GET", "DELETE");
                throw new AssertionError();
            }
        }
    }

    private <R extends io.bighorn.manager.model.Resource<R>> R markDeleted(Kind<R> kind, R object) {
        if (object.meta().deleting()) {
            return object;
        }
        try {
            return store.update(kind, object.withMeta(object.meta().withDeletionRequestedAt(clock.instant())));
        } catch (io.bighorn.manager.store.StoreException.Conflict e) {
            throw new ApiException(409, "Conflict", kind + " " + object.name() + " changed meanwhile; try again");
        }
    }

    private Response settings(Request r) {
        String name = r.segment(2);
        if (name == null) {
            method(r, "GET");
            List<ObjectNode> all = new ArrayList<>();
            for (SettingDefinition d : Settings.definitions()) {
                all.add(setting(d));
            }
            return Response.json(200, Map.of("data", all));
        }
        SettingDefinition d =
                Settings.definition(name).orElseThrow(() -> ApiException.notFound("unknown setting '" + name + "'"));
        if (r.method().equals("PUT")) {
            settings.set(name, r.requireText("value"));
        } else {
            method(r, "GET", "PUT");
        }
        return Response.json(200, setting(d));
    }

    private ObjectNode setting(SettingDefinition d) {
        ObjectNode o = Json.MAPPER.createObjectNode();
        o.put("name", d.name());
        o.put("value", settings.value(d.name()));
        o.set("definition", Json.MAPPER.valueToTree(d));
        store.get(Kind.SETTING, d.name())
                .map(Setting::meta)
                .ifPresent(m -> o.put("resourceVersion", m.resourceVersion()));
        return o;
    }

    /**
     * Ordered changes: every event after {@code since}, waiting up to {@code wait} seconds (default 0, at
     * most 60) for the first one. Without {@code since}, just the current version to watch from.
     */
    private Response events(Request r) {
        method(r, "GET");
        String since = r.query().get("since");
        if (since == null) {
            return Response.json(200, Map.of("resourceVersion", store.resourceVersion(), "events", List.of()));
        }
        long from;
        int wait;
        try {
            from = Long.parseLong(since);
            wait = Integer.parseInt(r.query().getOrDefault("wait", "0"));
        } catch (NumberFormatException e) {
            throw ApiException.badRequest("since and wait must be integers");
        }
        if (wait < 0 || wait > 60) {
            throw ApiException.badRequest("wait must be 0 to 60 seconds");
        }
        LinkedBlockingQueue<Event> queue = new LinkedBlockingQueue<>();
        List<Event> events = new ArrayList<>();
        try (AutoCloseable ignored = watch(from, queue)) {
            Event first = queue.poll(wait, TimeUnit.SECONDS);
            if (first != null) {
                events.add(first);
                queue.drainTo(events);
            }
        } catch (IllegalStateException e) {
            throw new ApiException(410, "Gone", e.getMessage());
        } catch (Exception e) {
            Thread.currentThread().interrupt();
            throw ApiException.unavailable("interrupted");
        }
        ArrayNode out = Json.MAPPER.createArrayNode();
        for (Event e : events) {
            out.addObject()
                    .put("type", e.type().name())
                    .put("kind", e.kind())
                    .put("name", e.name())
                    .put("resourceVersion", e.resourceVersion());
        }
        long last = events.isEmpty() ? from : events.getLast().resourceVersion();
        return Response.json(200, Map.of("resourceVersion", last, "events", out));
    }

    private AutoCloseable watch(long from, LinkedBlockingQueue<Event> queue) {
        return store.watch(from, queue::add);
    }

    private static Response openapi(Request r) {
        method(r, "GET");
        try (InputStream in = V1Routes.class.getResourceAsStream("/openapi.json")) {
            if (in == null) {
                throw new IllegalStateException("openapi.json is missing from the manager's jar");
            }
            return new Response(200, "application/json", in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private Response heartbeat(Request r) {
        if (!"heartbeat".equals(r.segment(2))) {
            throw ApiException.notFound("no such path");
        }
        method(r, "POST");
        List<String> tags = new ArrayList<>();
        if (r.body().has("tags")) {
            tags.addAll(tags(r.body().get("tags"), "tags"));
        }
        String node = r.requireText("node");
        io.bighorn.common.Names.require("node name", node);
        String zone = r.text("zone");
        nodes.heartbeat(new NodeController.Heartbeat(
                node, r.requireText("address"), r.requireText("nbdAddress"), zone == null ? "" : zone, tags));
        return new Response(204, "application/json", new byte[0]);
    }

    /** Maps an engine's refusal to the API's errors. */
    static ApiException engineError(ControlException e) {
        int status = switch (e.code()) {
            case "INVALID_ARGUMENT", "OUT_OF_RANGE" -> 400;
            case "NOT_FOUND" -> 404;
            case "ALREADY_EXISTS", "FAILED_PRECONDITION", "ABORTED" -> 409;
            default -> 503;
        };
        return new ApiException(status, status == 503 ? "Unavailable" : "EngineRefused", e.getMessage());
    }
}
