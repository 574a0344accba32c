package io.bighorn.manager.reconcile;

import io.bighorn.agent.v1.BackupJob;
import io.bighorn.manager.model.Backup;
import io.bighorn.manager.model.Engine;
import io.bighorn.manager.model.Kind;
import io.bighorn.manager.model.Node;
import io.bighorn.manager.settings.Settings;
import io.bighorn.manager.store.Store;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs Backup objects: asks the agent of the node the volume is attached to for the job (idempotent, so a
 * manager restart or a lost agent just asks again) and copies its progress into the object's status.
 */
public final class BackupController {
    private static final Logger log = LoggerFactory.getLogger(BackupController.class);

    private final Store store;
    private final Settings settings;
    private final AgentApi.Connector agents;
    private final java.time.Clock clock;

    public BackupController(Store store, Settings settings, AgentApi.Connector agents, java.time.Clock clock) {
        this.store = store;
        this.settings = settings;
        this.agents = agents;
        this.clock = clock;
    }

    public void reconcile(String name) {
        Optional<Backup> found = store.get(Kind.BACKUP, name);
        if (found.isPresent()
                && found.get().meta().deleting()
                && found.get().status().finished()) {
            delete(found.get());
            return;
        }
        if (found.isEmpty() || found.get().status().finished()) {
            return;
        }
        Backup b = found.get();
        Optional<Engine> engine = store.get(
                        Kind.ENGINE, VolumeController.engineName(b.spec().volume()))
                .filter(e -> !e.status().address().isEmpty());
        Optional<Node> node = engine.flatMap(e -> store.get(Kind.NODE, e.spec().node()))
                .filter(n -> n.status().ready());
        String target = b.status().target().isEmpty()
                ? settings.value(Settings.BACKUP_TARGET)
                : b.status().target();
        if (target.isEmpty()) {
            finish(b, "error", "no backup target: set the backup-target setting");
            return;
        }
        if (node.isEmpty()) {
            if (b.status().state().equals("pending")) {
                finish(b, "error", "volume " + b.spec().volume() + " is not attached to a live node");
            }
            return; // running: wait for the node to come back or the job to be lost
        }
        AgentApi agent = agents.connect(node.get().status().address());
        BackupJob job = agent.getBackup(name)
                .orElseGet(() -> agent.startBackup(
                        name,
                        b.spec().volume(),
                        b.spec().snapshot(),
                        target,
                        settings.value(Settings.BACKUP_COMPRESSION),
                        b.spec().labels()));
        Backup.Status s = new Backup.Status(
                job.getState(),
                node.get().name(),
                target,
                job.getBytesDone(),
                job.getBytesTotal(),
                job.getUrl(),
                job.getError());
        if (!s.equals(b.status())) {
            if (s.finished()) {
                log.info(
                        "backup {} of {}: {} {}",
                        name,
                        b.spec().volume(),
                        s.state(),
                        s.state().equals("error") ? s.error() : s.url());
            }
            Mutations.mutate(store, Kind.BACKUP, name, x -> x.withStatus(s));
            if (s.finished()) {
                BackupTargetController.requestSync(store, clock);
            }
        }
    }

    /**
     * Deletes a finished backup: a completed one from the target first (through a ready node's agent; the
     * target's own deletion removes the blocks no other backup uses), then the object.
     */
    private void delete(Backup b) {
        if (b.status().state().equals("completed") && !b.status().url().isEmpty()) {
            Optional<Node> node = BackupTargetController.readyNode(store);
            if (node.isEmpty()) {
                return; // wait for a node to do it
            }
            boolean deleted = agents.connect(node.get().status().address())
                    .deleteBackup(b.status().target(), b.spec().volume(), b.name());
            log.info(
                    "backup {} of {} {}",
                    b.name(),
                    b.spec().volume(),
                    deleted ? "deleted from " + b.status().target() : "was already gone from the target");
            BackupTargetController.requestSync(store, clock);
        }
        store.delete(Kind.BACKUP, b.name());
    }

    private void finish(Backup b, String state, String error) {
        Mutations.mutate(
                store,
                Kind.BACKUP,
                b.name(),
                x -> x.withStatus(new Backup.Status(state, "", x.status().target(), 0, 0, "", error)));
    }
}
