package io.bighorn.manager;

import io.bighorn.manager.api.ApiServer;
import io.bighorn.manager.api.V1Routes;
import io.bighorn.manager.model.Backup;
import io.bighorn.manager.model.Kind;
import io.bighorn.manager.model.Node;
import io.bighorn.manager.model.Volume;
import io.bighorn.manager.reconcile.AgentApi;
import io.bighorn.manager.reconcile.BackupController;
import io.bighorn.manager.reconcile.BackupTargetController;
import io.bighorn.manager.reconcile.EngineApi;
import io.bighorn.manager.reconcile.NodeController;
import io.bighorn.manager.reconcile.Observations;
import io.bighorn.manager.reconcile.VolumeController;
import io.bighorn.manager.settings.Settings;
import io.bighorn.manager.store.Store;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The control plane in one object: the store, the controllers, the loop that runs them and the REST API.
 *
 * <p>The loop runs a pass every {@code interval}, and sooner after any change in the store: it marks down
 * the nodes whose heartbeats stopped, polls every ready node's agent, and reconciles every volume. Each
 * node poll and each volume reconcile runs on its own virtual thread, at most one at a time per object, so
 * a slow agent delays only what lives on it.
 */
public final class Manager implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Manager.class);

    /**
     * How a manager is started.
     *
     * @param token the API's bearer token (required when the API is not on loopback)
     * @param agentAuth whether an Authorization header comes from an agent of this cluster
     */
    public record Config(
            Path dataDir,
            InetSocketAddress api,
            String token,
            Predicate<String> agentAuth,
            AgentApi.Connector agents,
            EngineApi.Connector engines,
            Duration interval,
            Clock clock) {}

    private final Store store;
    private final NodeController nodes;
    private final VolumeController volumes;
    private final BackupController backups;
    private final BackupTargetController backupTarget;
    private final ApiServer api;
    private final Duration interval;
    private final ExecutorService workers = Executors.newVirtualThreadPerTaskExecutor();
    private final Set<String> busy = ConcurrentHashMap.newKeySet();
    private final LinkedBlockingQueue<Boolean> wake = new LinkedBlockingQueue<>(1);
    private final AutoCloseable watch;
    private final Thread loop;
    private volatile boolean running = true;

    private Manager(Config c, Store store) throws IOException {
        this.store = store;
        this.interval = c.interval();
        Settings settings = new Settings(store);
        Observations observed = new Observations();
        this.nodes = new NodeController(store, settings, observed, c.agents(), c.clock());
        this.volumes = new VolumeController(store, settings, observed, c.agents(), c.engines(), c.clock());
        this.backups = new BackupController(store, settings, c.agents(), c.clock());
        this.backupTarget = new BackupTargetController(store, settings, c.agents(), c.clock());
        this.api = ApiServer.start(
                c.api(),
                c.token(),
                c.agentAuth(),
                new V1Routes(store, settings, nodes, observed, c.clock(), c.engines()));
        this.watch = store.watch(store.resourceVersion(), e -> wake.offer(true));
        this.loop = Thread.ofPlatform().name("manager-loop").daemon().start(this::run);
    }

    /** Opens the store in {@code dataDir/bighorn.db}, starts the API and the loop. */
    public static Manager start(Config c) throws IOException {
        Store store = Store.open(c.dataDir().resolve("bighorn.db"), c.clock());
        try {
            return new Manager(c, store);
        } catch (IOException | RuntimeException e) {
            try {
                store.close();
            } catch (Exception suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    public String url() {
        return api.url();
    }

    public Store store() {
        return store;
    }

    private void run() {
        while (running) {
            try {
                pass();
                wake.poll(interval.toMillis(), TimeUnit.MILLISECONDS);
                // let a burst of changes settle into one pass
                Thread.sleep(Math.min(100, interval.toMillis()));
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                log.warn("manager pass failed", e);
            }
        }
    }

    private void pass() {
        nodes.checkHeartbeats();
        for (Node n : store.list(Kind.NODE)) {
            submit("node/" + n.name(), () -> nodes.poll(n));
        }
        for (Volume v : store.list(Kind.VOLUME)) {
            submit("volume/" + v.name(), () -> volumes.reconcile(v.name()));
        }
        submit("backuptarget", backupTarget::reconcile);
        for (Backup b : store.list(Kind.BACKUP)) {
            if (!b.status().finished() || b.meta().deleting()) {
                submit("backup/" + b.name(), () -> backups.reconcile(b.name()));
            }
        }
    }

    private void submit(String key, Runnable work) {
        if (!busy.add(key)) {
            return;
        }
        workers.execute(() -> {
            try {
                work.run();
            } catch (RuntimeException e) {
                log.warn("{}: {}", key, e.toString());
                log.debug("{}", key, e);
            } finally {
                busy.remove(key);
            }
        });
    }

    @Override
    public void close() throws Exception {
        running = false;
        loop.interrupt();
        loop.join(5_000);
        api.close();
        workers.shutdownNow();
        workers.awaitTermination(10, TimeUnit.SECONDS);
        watch.close();
        store.close();
    }
}
