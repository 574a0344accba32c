package io.bighorn.manager.store;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bighorn.manager.model.Kind;
import io.bighorn.manager.model.Meta;
import io.bighorn.manager.model.Resource;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * The control plane's objects, kept in SQLite with Kubernetes semantics: one global resource version bumped
 * by every write, optimistic concurrency (an update naming an old version is refused), a generation bumped
 * by spec changes only, and ordered events for watchers.
 *
 * <p>Every write is one SQLite transaction in WAL mode with {@code synchronous=FULL}: once a call returns, the
 * change survives a kill of the process. Reads come from an in-memory copy loaded at open, so they cost no
 * I/O; writes are serialised by the store's lock, which also orders events.
 */
public final class Store implements AutoCloseable {
    private static final int EVENT_HISTORY = 4096;

    private final Connection db;
    private final Clock clock;
    private final Map<String, TreeMap<String, Resource<?>>> objects = new HashMap<>();
    private final Deque<Event> history = new ArrayDeque<>();
    private final List<Consumer<Event>> watchers = new CopyOnWriteArrayList<>();
    private long version;

    private Store(Connection db, Clock clock) {
        this.db = db;
        this.clock = clock;
    }

    /** Opens (creating if needed) the store in {@code file}. */
    public static Store open(Path file, Clock clock) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        try {
            Connection db = DriverManager.getConnection("jdbc:sqlite:" + file);
            try (Statement s = db.createStatement()) {
                s.execute("PRAGMA journal_mode=WAL");
                s.execute("PRAGMA synchronous=FULL");
                s.execute("CREATE TABLE IF NOT EXISTS objects (kind TEXT NOT NULL, name TEXT NOT NULL,"
                        + " version INTEGER NOT NULL, json TEXT NOT NULL, PRIMARY KEY (kind, name))");
                s.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)");
                s.execute("INSERT OR IGNORE INTO counters VALUES ('version', 0)");
            }
            Store store = new Store(db, clock);
            store.load();
            return store;
        } catch (SQLException e) {
            throw new IOException("cannot open the store " + file + ": " + e.getMessage(), e);
        }
    }

    private void load() throws SQLException, IOException {
        try (Statement s = db.createStatement();
                ResultSet rs = s.executeQuery("SELECT value FROM counters WHERE name = 'version'")) {
            version = rs.next() ? rs.getLong(1) : 0;
        }
        for (Kind<?> kind : Kind.ALL) {
            objects.put(kind.name(), new TreeMap<>());
        }
        try (Statement s = db.createStatement();
                ResultSet rs = s.executeQuery("SELECT kind, json FROM objects")) {
            while (rs.next()) {
                Kind<?> kind = Kind.ALL.stream()
                        .filter(k -> k.name().equals(safeString(rs, 1)))
                        .findFirst()
                        .orElse(null);
                if (kind != null) {
                    Resource<?> r = Json.MAPPER.readValue(rs.getString(2), kind.type());
                    objects.get(kind.name()).put(r.name(), r);
                }
            }
        }
    }

    private static String safeString(ResultSet rs, int column) {
        try {
            return rs.getString(column);
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The version of the last write. */
    public synchronized long resourceVersion() {
        return version;
    }

    public synchronized <R extends Resource<R>> Optional<R> get(Kind<R> kind, String name) {
        return Optional.ofNullable(kind.type().cast(objects.get(kind.name()).get(name)));
    }

    /** Every object of a kind, by name. */
    public synchronized <R extends Resource<R>> List<R> list(Kind<R> kind) {
        return objects.get(kind.name()).values().stream().map(kind.type()::cast).toList();
    }

    /** Stores a new object: the store assigns its uid, creation time, version and generation 1. */
    public synchronized <R extends Resource<R>> R create(Kind<R> kind, R object) {
        String name = object.name();
        if (objects.get(kind.name()).containsKey(name)) {
            throw new StoreException.AlreadyExists(kind.name(), name);
        }
        Meta m = object.meta();
        Meta stored = new Meta(
                name,
                UUID.randomUUID().toString(),
                version + 1,
                1,
                m.labels(),
                clock.instant(),
                m.deletionRequestedAt());
        return write(kind, object.withMeta(stored), Event.Type.ADDED);
    }

    /**
     * Replaces an object if nobody changed it since it was read ({@code object.meta().resourceVersion()}).
     *
     * @throws StoreException.Conflict when it changed meanwhile
     */
    public synchronized <R extends Resource<R>> R update(Kind<R> kind, R object) {
        String name = object.name();
        Resource<?> current = objects.get(kind.name()).get(name);
        if (current == null) {
            throw new StoreException.NotFound(kind.name(), name);
        }
        Meta was = current.meta();
        if (object.meta().resourceVersion() != was.resourceVersion()) {
            throw new StoreException.Conflict(
                    kind.name(), name, object.meta().resourceVersion(), was.resourceVersion());
        }
        long generation = was.generation() + (specOf(current).equals(specOf(object)) ? 0 : 1);
        Meta m = object.meta();
        Meta stored = new Meta(
                name, was.uid(), version + 1, generation, m.labels(), was.createdAt(), m.deletionRequestedAt());
        return write(kind, object.withMeta(stored), Event.Type.MODIFIED);
    }

    /** Removes an object for good (the last step of its teardown); an absent one is no error. */
    public synchronized <R extends Resource<R>> void delete(Kind<R> kind, String name) {
        Resource<?> current = objects.get(kind.name()).get(name);
        if (current == null) {
            return;
        }
        long v = version + 1;
        transaction(() -> {
            try (PreparedStatement p = db.prepareStatement("DELETE FROM objects WHERE kind = ? AND name = ?")) {
                p.setString(1, kind.name());
                p.setString(2, name);
                p.executeUpdate();
            }
            bump(v);
        });
        objects.get(kind.name()).remove(name);
        publish(new Event(Event.Type.DELETED, kind.name(), name, v, current));
    }

    private <R extends Resource<R>> R write(Kind<R> kind, R object, Event.Type type) {
        long v = object.meta().resourceVersion();
        String json;
        try {
            json = Json.MAPPER.writeValueAsString(object);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot encode " + kind + " " + object.name(), e);
        }
        transaction(() -> {
            try (PreparedStatement p = db.prepareStatement("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)")) {
                p.setString(1, kind.name());
                p.setString(2, object.name());
                p.setLong(3, v);
                p.setString(4, json);
                p.executeUpdate();
            }
            bump(v);
        });
        objects.get(kind.name()).put(object.name(), object);
        publish(new Event(type, kind.name(), object.name(), v, object));
        return object;
    }

    private void bump(long v) throws SQLException {
        try (PreparedStatement p = db.prepareStatement("UPDATE counters SET value = ? WHERE name = 'version'")) {
            p.setLong(1, v);
            p.executeUpdate();
        }
    }

    private interface SqlWork {
        void run() throws SQLException;
    }

    private void transaction(SqlWork work) {
        try {
            db.setAutoCommit(false);
            try {
                work.run();
                db.commit();
            } catch (SQLException | RuntimeException e) {
                db.rollback();
                throw e;
            } finally {
                db.setAutoCommit(true);
            }
        } catch (SQLException e) {
            throw new UncheckedIOException(new IOException("store write failed: " + e.getMessage(), e));
        }
        // the write is durable: only now may the version move
    }

    private void publish(Event e) {
        version = e.resourceVersion();
        history.addLast(e);
        if (history.size() > EVENT_HISTORY) {
            history.removeFirst();
        }
        for (Consumer<Event> w : watchers) {
            w.accept(e);
        }
    }

    private static JsonNode specOf(Resource<?> r) {
        ObjectNode tree = Json.MAPPER.valueToTree(r);
        tree.remove("meta");
        tree.remove("status");
        return tree;
    }

    /**
     * Calls {@code watcher} with every event after {@code sinceVersion}, in order: first those still in the
     * history, then each new one as it is written (on the writer's thread, under the store's lock: a watcher
     * must be quick and must not write).
     *
     * @return a handle that stops the watch
     * @throws IllegalStateException when events after {@code sinceVersion} are no longer kept (list again)
     */
    public synchronized AutoCloseable watch(long sinceVersion, Consumer<Event> watcher) {
        if (sinceVersion < version && (history.isEmpty() || history.peekFirst().resourceVersion() > sinceVersion + 1)) {
            throw new IllegalStateException(
                    "events after version " + sinceVersion + " are no longer kept: list again and watch from now");
        }
        List<Event> replay = new ArrayList<>();
        for (Event e : history) {
            if (e.resourceVersion() > sinceVersion) {
                replay.add(e);
            }
        }
        replay.sort(Comparator.comparingLong(Event::resourceVersion));
        replay.forEach(watcher);
        watchers.add(watcher);
        return () -> watchers.remove(watcher);
    }

    @Override
    public synchronized void close() throws SQLException {
        db.close();
    }
}
