// A Nessie server for branchops' integration tests.
//
// The Quarkus runner jar (nessie-quarkus:...:runner) is not available from the package
// registry this project can reach, so this hosts Nessie's own REST v1/v2 resources, services and
// version store (the in-memory backend) with Jersey on Grizzly, the way Nessie's own
// jax-rs test extension does. The resources carry their /api/v1 and /api/v2 paths themselves, so
// the HTTP API is the one the Quarkus server serves.
//
// Usage: java -jar nessie-server.jar [--host 127.0.0.1] [--port 0] [--exit-on-eof true]
// Prints "NESSIE_URI=http://host:port/api/v2" once it serves (port 0: the OS picks a free one).
// Stops on SIGTERM, and with --exit-on-eof true also when its stdin closes, so a test run that
// dies without cleaning up does not leave a server behind.
package branchops.ci;

import java.net.URI;
import java.util.concurrent.CountDownLatch;
import org.glassfish.grizzly.http.server.HttpServer;
import org.glassfish.grizzly.http.server.NetworkListener;
import org.glassfish.jersey.grizzly2.httpserver.GrizzlyHttpServerFactory;
import org.glassfish.jersey.message.DeflateEncoder;
import org.glassfish.jersey.message.GZipEncoder;
import org.glassfish.jersey.server.ResourceConfig;
import org.glassfish.jersey.server.filter.EncodingFilter;
import org.jboss.weld.environment.se.Weld;
import org.jboss.weld.environment.se.WeldContainer;
import org.projectnessie.jaxrs.ext.AuthorizerExtension;
import org.projectnessie.jaxrs.ext.ContextPrincipalExtension;
import org.projectnessie.jaxrs.ext.ServerConfigExtension;
import org.projectnessie.jaxrs.ext.VersionStoreImplExtension;
import org.projectnessie.services.authz.AbstractBatchAccessChecker;
import org.projectnessie.services.impl.TreeApiImpl;
import org.projectnessie.services.rest.AccessCheckExceptionMapper;
import org.projectnessie.services.rest.BackendLimitExceededExceptionMapper;
import org.projectnessie.services.rest.RestConfigResource;
import org.projectnessie.services.rest.RestContentResource;
import org.projectnessie.services.rest.RestDiffResource;
import org.projectnessie.services.rest.RestNamespaceResource;
import org.projectnessie.services.rest.RestTreeResource;
import org.projectnessie.services.rest.RestV2ConfigResource;
import org.projectnessie.services.rest.RestV2TreeResource;
import org.projectnessie.services.rest.converters.ContentKeyParamConverterProvider;
import org.projectnessie.services.rest.converters.NamespaceParamConverterProvider;
import org.projectnessie.services.rest.converters.ReferenceTypeParamConverterProvider;
import org.projectnessie.services.rest.exceptions.ConstraintViolationExceptionMapper;
import org.projectnessie.services.rest.exceptions.NessieExceptionMapper;
import org.projectnessie.services.rest.exceptions.NessieJaxRsJsonMappingExceptionMapper;
import org.projectnessie.services.rest.exceptions.NessieJaxRsJsonParseExceptionMapper;
import org.projectnessie.services.rest.exceptions.NotSupportedExceptionMapper;
import org.projectnessie.services.rest.exceptions.ValidationExceptionMapper;
import org.projectnessie.versioned.storage.common.config.StoreConfig;
import org.projectnessie.versioned.storage.common.logic.Logics;
import org.projectnessie.versioned.storage.common.persist.Persist;
import org.projectnessie.versioned.storage.inmemory.InmemoryBackend;

public final class NessieServer {
  public static void main(String[] args) throws Exception {
    String host = "127.0.0.1";
    int port = 0;
    boolean exitOnEof = false;
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--host" -> host = args[i + 1];
        case "--port" -> port = Integer.parseInt(args[i + 1]);
        case "--exit-on-eof" -> exitOnEof = Boolean.parseBoolean(args[i + 1]);
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }

    InmemoryBackend backend = new InmemoryBackend();
    Persist persist = backend.createFactory().newPersist(StoreConfig.Adjustable.empty());
    Logics.repositoryLogic(persist).initialize("main");

    Weld weld = new Weld();
    weld.addPackages(true, RestConfigResource.class);
    weld.addPackages(true, TreeApiImpl.class);
    weld.addExtension(new ContextPrincipalExtension(() -> null));
    weld.addExtension(new ServerConfigExtension());
    weld.addExtension(VersionStoreImplExtension.forPersist(() -> persist));
    weld.addExtension(
        new AuthorizerExtension()
            .setAccessCheckerSupplier(ctx -> AbstractBatchAccessChecker.NOOP_ACCESS_CHECKER));
    weld.property("org.jboss.weld.se.shutdownHook", false);
    WeldContainer container = weld.initialize();

    ResourceConfig config = new ResourceConfig();
    for (Class<?> c :
        new Class<?>[] {
          RestV2ConfigResource.class, RestV2TreeResource.class, RestConfigResource.class,
          RestTreeResource.class, RestContentResource.class, RestDiffResource.class,
          RestNamespaceResource.class, ContentKeyParamConverterProvider.class,
          NamespaceParamConverterProvider.class, ReferenceTypeParamConverterProvider.class,
          NessieExceptionMapper.class, EncodingFilter.class, GZipEncoder.class,
          DeflateEncoder.class
        }) {
      config.register(c);
    }
    for (Class<?> c :
        new Class<?>[] {
          ValidationExceptionMapper.class, AccessCheckExceptionMapper.class,
          ConstraintViolationExceptionMapper.class, BackendLimitExceededExceptionMapper.class,
          NotSupportedExceptionMapper.class, NessieJaxRsJsonParseExceptionMapper.class,
          NessieJaxRsJsonMappingExceptionMapper.class
        }) {
      config.register(c, 10);
    }

    URI base = URI.create("http://" + host + ":" + port + "/");
    HttpServer server = GrizzlyHttpServerFactory.createHttpServer(base, config, true);
    NetworkListener listener = server.getListeners().iterator().next();
    int bound = listener.getPort();

    CountDownLatch stop = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      server.shutdownNow();
      container.shutdown();
      stop.countDown();
    }));
    System.out.println("NESSIE_URI=http://" + host + ":" + bound + "/api/v2");
    System.out.flush();
    if (exitOnEof) {
      Thread watcher = new Thread(() -> {
        try {
          while (System.in.read() >= 0) {
            // drain
          }
        } catch (java.io.IOException e) {
          // stdin gone: stop as on EOF
        }
        System.exit(0);
      });
      watcher.setDaemon(true);
      watcher.start();
    }
    stop.await();
  }
}
