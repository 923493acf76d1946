// Peer row of the shape matrix: Confluent's Parallel Consumer (Java), and the plain KafkaConsumer
// it is built on as that peer's raw baseline. Compiled and run by bench/matrix/peers/setup.sh and
// bench/matrix/peers.ts; prints one line "RESULT {json}" at the end.
//
//   --mode raw|pc --brokers H:P --topic T --target N [--handler-ms 5] [--concurrency 100]
//   [--window S] [--stall S] [--hot-key K]
//
// raw: a KafkaConsumer (fresh group, earliest, no auto-commit) polls until it has N records.
// pc:  ParallelStreamProcessor, KEY ordering, maxConcurrency N; the handler sleeps handler-ms
//      (Thread.sleep) and counts; the run ends at N completions or `window` seconds after the
//      first handler call. Times are from the first record / first handler call to the end.
//      With --hot-key, the handler time of that key's records is also reported on its own.
// Both use the KafkaConsumer's defaults; PEER_JAVA_CONSUMER_PROPS="k=v,k=v" overrides some (e.g.
// fetch.max.wait.ms=10), for what-if runs.
import io.confluent.parallelconsumer.ParallelConsumerOptions;
import io.confluent.parallelconsumer.ParallelConsumerOptions.ProcessingOrder;
import io.confluent.parallelconsumer.ParallelStreamProcessor;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class PcRunner {
  public static void main(String[] argv) throws Exception {
    Map<String, String> a = new HashMap<>();
    for (int i = 0; i + 1 < argv.length; i += 2) a.put(argv[i].replaceFirst("^--", ""), argv[i + 1]);
    String mode = a.getOrDefault("mode", "pc");
    String topic = a.get("topic");
    long target = Long.parseLong(a.get("target"));
    double stallSeconds = Double.parseDouble(a.getOrDefault("stall", "60"));
    Properties props = new Properties();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, a.getOrDefault("brokers", "127.0.0.1:9092"));
    props.put(ConsumerConfig.GROUP_ID_CONFIG, "pyrallel-bench-peer-pc-" + Long.toString(System.nanoTime(), 36));
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    String extra = System.getenv("PEER_JAVA_CONSUMER_PROPS");
    if (extra != null && !extra.isBlank()) {
      for (String pair : extra.split(",")) {
        String[] kv = pair.split("=", 2);
        if (kv.length == 2) props.put(kv[0].trim(), kv[1].trim());
      }
    }
    if (mode.equals("raw")) raw(props, topic, target, stallSeconds);
    else pc(props, topic, target, a, stallSeconds);
  }

  static void raw(Properties props, String topic, long target, double stallSeconds) {
    KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props);
    consumer.subscribe(List.of(topic));
    long startedAt = System.nanoTime();
    long firstAt = 0;
    long count = 0;
    long lastMoved = startedAt;
    while (count < target) {
      ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(100));
      long now = System.nanoTime();
      if (!records.isEmpty()) {
        if (firstAt == 0) firstAt = now;
        count += records.count();
        lastMoved = now;
      } else if ((now - lastMoved) / 1e9 > stallSeconds) {
        fail("no progress for " + stallSeconds + " s (" + count + "/" + target + ")");
      }
    }
    long endAt = System.nanoTime();
    result(count, startedAt, firstAt, endAt, Double.NaN, Double.NaN);
    consumer.close(Duration.ofSeconds(5));
    System.exit(0);
  }

  static void pc(Properties props, String topic, long target, Map<String, String> a, double stallSeconds)
      throws InterruptedException {
    double handlerMs = Double.parseDouble(a.getOrDefault("handler-ms", "0"));
    int concurrency = Integer.parseInt(a.getOrDefault("concurrency", "100"));
    double windowSeconds = Double.parseDouble(a.getOrDefault("window", "0"));
    long sleepMs = (long) Math.floor(handlerMs);
    int sleepNanos = (int) Math.round((handlerMs - sleepMs) * 1e6);
    KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props);
    ParallelConsumerOptions<byte[], byte[]> options = ParallelConsumerOptions.<byte[], byte[]>builder()
        .ordering(ProcessingOrder.KEY)
        .maxConcurrency(concurrency)
        .consumer(consumer)
        .build();
    ParallelStreamProcessor<byte[], byte[]> processor = ParallelStreamProcessor.createEosStreamProcessor(options);
    AtomicLong done = new AtomicLong();
    AtomicLong firstAt = new AtomicLong();
    AtomicLong endAt = new AtomicLong();
    LongAdder handlerNanos = new LongAdder();
    LongAdder handlerCount = new LongAdder();
    LongAdder hotNanos = new LongAdder();
    LongAdder hotCount = new LongAdder();
    byte[] hotKey = a.containsKey("hot-key") ? a.get("hot-key").getBytes(StandardCharsets.UTF_8) : null;
    CountDownLatch first = new CountDownLatch(1);
    CountDownLatch finished = new CountDownLatch(1);
    long startedAt = System.nanoTime();
    processor.subscribe(List.of(topic));
    processor.poll(context -> {
      long t0 = System.nanoTime();
      if (firstAt.compareAndSet(0, t0)) first.countDown();
      if (sleepMs > 0 || sleepNanos > 0) {
        try {
          Thread.sleep(sleepMs, sleepNanos);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
      long t1 = System.nanoTime();
      handlerNanos.add(t1 - t0);
      handlerCount.increment();
      if (hotKey != null && Arrays.equals(hotKey, context.getSingleConsumerRecord().key())) {
        hotNanos.add(t1 - t0);
        hotCount.increment();
      }
      if (done.incrementAndGet() == target) {
        endAt.compareAndSet(0, t1);
        finished.countDown();
      }
    });
    // Wait for the first handler call, then for the target or the window.
    long lastCount = -1;
    long lastMoved = System.nanoTime();
    while (!first.await(250, TimeUnit.MILLISECONDS)) {
      if ((System.nanoTime() - lastMoved) / 1e9 > stallSeconds) fail("no message in " + stallSeconds + " s");
      if (processor.isClosedOrFailed()) fail("the parallel consumer closed or failed before the first message");
    }
    long windowEnd = windowSeconds > 0 ? firstAt.get() + (long) (windowSeconds * 1e9) : Long.MAX_VALUE;
    while (!finished.await(100, TimeUnit.MILLISECONDS)) {
      long now = System.nanoTime();
      if (now >= windowEnd) {
        endAt.compareAndSet(0, now);
        break;
      }
      long count = done.get();
      if (count != lastCount) {
        lastCount = count;
        lastMoved = now;
      } else if ((now - lastMoved) / 1e9 > stallSeconds) {
        fail("no progress for " + stallSeconds + " s (" + count + "/" + target + ")");
      }
      if (processor.isClosedOrFailed()) fail("the parallel consumer closed or failed (" + count + "/" + target + ")");
    }
    long counted = Math.min(done.get(), target);
    long handlers = handlerCount.sum();
    long hot = hotCount.sum();
    result(counted, startedAt, firstAt.get(), endAt.get(), handlers == 0 ? Double.NaN : handlerNanos.sum() / 1e6 / handlers,
        hot == 0 ? Double.NaN : hotNanos.sum() / 1e6 / hot);
    // Not measured: do not wait for the remaining work.
    Thread closer = new Thread(() -> {
      try {
        processor.closeDontDrainFirst(Duration.ofSeconds(5));
      } catch (Throwable ignored) {
        // exiting anyway
      }
    });
    closer.setDaemon(true);
    closer.start();
    closer.join(8000);
    System.exit(0);
  }

  static void result(long messages, long startedAt, long firstAt, long endAt, double handlerMeanMs, double hotMeanMs) {
    double seconds = (endAt - startedAt) / 1e9;
    double steadySeconds = (endAt - firstAt) / 1e9;
    System.out.println(String.format(Locale.ROOT,
        "RESULT {\"messages\":%d,\"seconds\":%.6f,\"steadySeconds\":%.6f,\"firstMessageSeconds\":%.6f,"
            + "\"handlerMeanMs\":%s,\"hotHandlerMeanMs\":%s}",
        messages, seconds, steadySeconds, (firstAt - startedAt) / 1e9, json(handlerMeanMs), json(hotMeanMs)));
    System.out.flush();
  }

  static String json(double value) {
    return Double.isNaN(value) ? "null" : String.format(Locale.ROOT, "%.6f", value);
  }

  static void fail(String why) {
    System.out.println("RESULT {\"error\":\"" + why.replace("\"", "'") + "\"}");
    System.out.flush();
    Runtime.getRuntime().halt(1);
  }
}
