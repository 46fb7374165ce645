// End-to-end tests start real processes and measure timings: run them one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
