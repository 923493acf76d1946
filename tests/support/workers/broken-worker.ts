// Worker entry that fails while loading, before it can call runWorker().
throw new Error("broken worker module");
