package io.bighorn.manager.scheduler;

public record SchedulerSettings(
        int overProvisioningPercentage,
        int minimalAvailablePercentage,
        boolean replicaSoftAntiAffinity,
        boolean replicaZoneSoftAntiAffinity,
        boolean replicaDiskSoftAntiAffinity) {}
