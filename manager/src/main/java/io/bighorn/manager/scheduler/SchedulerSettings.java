package io.bighorn.manager.scheduler;

/** The settings placement depends on (Longhorn's names, in camel case). */
public record SchedulerSettings(
        int overProvisioningPercentage,
        int minimalAvailablePercentage,
        boolean replicaSoftAntiAffinity,
        boolean replicaZoneSoftAntiAffinity,
        boolean replicaDiskSoftAntiAffinity) {}
