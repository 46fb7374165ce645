// Many of these tests bind loopback ports picked a moment earlier (Ports.Free) and run real
// listeners; run in parallel, one test could take the port another had just picked.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
