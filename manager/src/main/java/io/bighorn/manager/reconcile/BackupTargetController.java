package io.bighorn.manager.reconcile;

import io.bighorn.agent.v1.BackupInfo;
import io.bighorn.agent.v1.BackupListing;
import io.bighorn.agent.v1.BackupVolumeInfo;
import io.bighorn.manager.model.Backup;
import io.bighorn.manager.model.BackupTarget;
import io.bighorn.manager.model.BackupVolume;
import io.bighorn.manager.model.Kind;
import io.bighorn.manager.model.Meta;
import io.bighorn.manager.model.Node;
import io.bighorn.manager.settings.Settings;
import io.bighorn.manager.store.Store;
import io.bighorn.manager.store.StoreException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the BackupTarget object in step with the backup-target setting, lists the target through the agent
 * of a ready node when a listing is due (the manager never opens a target itself: credentials and mounts
 * live on the nodes), and from that listing keeps one BackupVolume per volume the target holds and a Backup
 * object for every complete backup there, also those written by another cluster or by Longhorn. Deletes the
 * backup volumes whose deletion was asked for. Every step is idempotent.
 */
public final class BackupTargetController {
    private static final Logger log = LoggerFactory.getLogger(BackupTargetController.class);

    private final Store store;
    private final Settings settings;
    private final AgentApi.Connector agents;
    private final Clock clock;

    public BackupTargetController(Store store, Settings settings, AgentApi.Connector agents, Clock clock) {
        this.store = store;
        this.settings = settings;
        this.agents = agents;
        this.clock = clock;
    }

    /** Asks for a listing at the next pass (after a backup completes, or on the user's request). */
    public static void requestSync(Store store, Clock clock) {
        Mutations.mutate(
                store,
                Kind.BACKUP_TARGET,
                BackupTarget.DEFAULT,
                t -> t.withSpec(
                        new BackupTarget.Spec(t.spec().url(), t.spec().pollIntervalSeconds(), clock.instant())));
    }

    public void reconcile() {
        BackupTarget t = follow();
        String url = t.spec().url();
        Optional<AgentApi> agent =
                readyNode(store).map(n -> agents.connect(n.status().address()));
        for (BackupVolume bv : store.list(Kind.BACKUP_VOLUME)) {
            if (bv.meta().deleting() && agent.isPresent()) {
                deleteVolume(agent.get(), bv);
            }
        }
        if (!due(t)) {
            return;
        }
        Instant now = clock.instant();
        if (url.isEmpty()) {
            store.list(Kind.BACKUP_VOLUME).forEach(bv -> store.delete(Kind.BACKUP_VOLUME, bv.name()));
            status(new BackupTarget.Status(false, "no backup target: set the backup-target setting", now, url));
            return;
        }
        if (agent.isEmpty()) {
            status(new BackupTarget.Status(
                    false,
                    "no node is up to read the backup target",
                    t.status().lastSyncedAt(),
                    t.status().syncedUrl()));
            return; // due again at the next pass
        }
        try {
            sync(agent.get(), url);
            status(new BackupTarget.Status(true, "", now, url));
        } catch (RuntimeException e) {
            log.warn("backup target {}: listing failed: {}", url, e.getMessage());
            status(new BackupTarget.Status(false, e.getMessage(), now, url));
        }
    }

    /** Creates the object, and copies the setting's URL and poll interval into its spec. */
    private BackupTarget follow() {
        String url = settings.value(Settings.BACKUP_TARGET);
        long poll = settings.number(Settings.BACKUPSTORE_POLL_INTERVAL);
        Optional<BackupTarget> found = store.get(Kind.BACKUP_TARGET, BackupTarget.DEFAULT);
        if (found.isEmpty()) {
            try {
                return store.create(
                        Kind.BACKUP_TARGET,
                        new BackupTarget(
                                Meta.named(BackupTarget.DEFAULT),
                                new BackupTarget.Spec(url, poll, null),
                                BackupTarget.Status.unknown()));
            } catch (StoreException.AlreadyExists raced) {
                // fall through to the update
            }
        }
        return Mutations.mutate(
                        store,
                        Kind.BACKUP_TARGET,
                        BackupTarget.DEFAULT,
                        x -> x.spec().url().equals(url) && x.spec().pollIntervalSeconds() == poll
                                ? x
                                : x.withSpec(new BackupTarget.Spec(
                                        url, poll, x.spec().syncRequestedAt())))
                .orElseThrow();
    }

    private boolean due(BackupTarget t) {
        Instant last = t.status().lastSyncedAt();
        if (last == null || !t.status().syncedUrl().equals(t.spec().url())) {
            return true;
        }
        Instant asked = t.spec().syncRequestedAt();
        if (asked != null && !asked.isBefore(last)) {
            return true;
        }
        long poll = t.spec().pollIntervalSeconds();
        return poll > 0 && !clock.instant().isBefore(last.plus(Duration.ofSeconds(poll)));
    }

    private void sync(AgentApi agent, String url) {
        BackupListing volumes = agent.listBackups(url, "");
        Map<String, BackupVolumeInfo> found = new HashMap<>();
        volumes.getVolumesList().forEach(v -> found.put(v.getName(), v));
        for (BackupVolume bv : store.list(Kind.BACKUP_VOLUME)) {
            if (!found.containsKey(bv.name()) && !bv.meta().deleting()) {
                store.delete(Kind.BACKUP_VOLUME, bv.name());
            }
        }
        Map<String, Backup> known = new HashMap<>();
        store.list(Kind.BACKUP).forEach(b -> known.put(b.name(), b));
        for (BackupVolumeInfo v : found.values()) {
            List<BackupInfo> backups = agent.listBackups(url, v.getName()).getBackupsList();
            BackupVolume.Status s =
                    new BackupVolume.Status(url, v.getSize(), v.getLastBackupName(), v.getLastBackupAt(), (int)
                            backups.stream().filter(BackupInfo::getComplete).count());
            upsertVolume(v.getName(), s);
            for (BackupInfo b : backups) {
                if (b.getComplete() && !known.containsKey(b.getName())) {
                    adopt(url, b);
                }
            }
            // completed backups of this target that are gone from it (deleted elsewhere)
            for (Backup b : known.values()) {
                boolean ours = b.spec().volume().equals(v.getName())
                        && b.status().target().equals(url)
                        && b.status().state().equals("completed");
                if (ours && backups.stream().noneMatch(x -> x.getName().equals(b.name()))) {
                    log.info("backup {} of {} is no longer in the target", b.name(), v.getName());
                    store.delete(Kind.BACKUP, b.name());
                }
            }
        }
        for (Backup b : known.values()) { // the whole volume went away
            if (b.status().target().equals(url)
                    && b.status().state().equals("completed")
                    && !found.containsKey(b.spec().volume())) {
                store.delete(Kind.BACKUP, b.name());
            }
        }
    }

    private void upsertVolume(String name, BackupVolume.Status s) {
        if (store.get(Kind.BACKUP_VOLUME, name).isEmpty()) {
            try {
                store.create(Kind.BACKUP_VOLUME, new BackupVolume(Meta.named(name), s));
                return;
            } catch (StoreException.AlreadyExists raced) {
                // update below
            }
        }
        Mutations.mutate(
                store, Kind.BACKUP_VOLUME, name, x -> x.status().equals(s) ? x : new BackupVolume(x.meta(), s));
    }

    /** A complete backup found in the target that no Backup object describes: described from now on. */
    private void adopt(String url, BackupInfo b) {
        try {
            store.create(
                    Kind.BACKUP,
                    new Backup(
                            Meta.named(b.getName()),
                            new Backup.Spec(b.getVolume(), b.getSnapshot(), Map.of()),
                            new Backup.Status("completed", "", url, b.getSize(), b.getSize(), b.getUrl(), "")));
            log.info("backup {} of {} found in the target", b.getName(), b.getVolume());
        } catch (StoreException.AlreadyExists raced) {
            // already described
        }
    }

    private void deleteVolume(AgentApi agent, BackupVolume bv) {
        boolean running = store.list(Kind.BACKUP).stream()
                .anyMatch(
                        b -> b.spec().volume().equals(bv.name()) && !b.status().finished());
        if (running) {
            return; // the API refuses this; a backup started meanwhile finishes first
        }
        agent.deleteBackup(bv.status().target(), bv.name(), "");
        for (Backup b : store.list(Kind.BACKUP)) {
            if (b.spec().volume().equals(bv.name())
                    && b.status().target().equals(bv.status().target())) {
                store.delete(Kind.BACKUP, b.name());
            }
        }
        store.delete(Kind.BACKUP_VOLUME, bv.name());
        log.info("backup volume {} deleted from {}", bv.name(), bv.status().target());
    }

    /** Some node whose agent is up, to reach the backup target through (the manager never opens it). */
    static Optional<Node> readyNode(Store store) {
        return store.list(Kind.NODE).stream().filter(n -> n.status().ready()).findFirst();
    }

    private void status(BackupTarget.Status s) {
        Mutations.mutate(
                store, Kind.BACKUP_TARGET, BackupTarget.DEFAULT, x -> x.status().equals(s) ? x : x.withStatus(s));
    }
}
