// A Nessie server for branchops' integration tests.
//
// The Quarkus runner jar (nessie-quarkus:...:runner) is not available from the package
// registry this project can reach, so this hosts Nessie's own REST v1/v2 resources, services and
// version store (the in-memory backend) with Jersey on Grizzly, the way Nessie's own
// jax-rs test extension does. The resources carry their /api/v1 and /api/v2 paths themselves, so
// the HTTP API is the one the Quarkus server serves.
//
// Usage: java -jar nessie-server.jar [--host 127.0.0.1] [--port 0] [--exit-on-eof true]
//          [--protected main[,...] --protected-writers merge[,...]]
// With --protected, requests must carry "Authorization: Bearer <token>"; the tokens come from the
// environment, NESSIE_AUTH_TOKENS="principal=token,..." (never on the command line), and only the
// --protected-writers principals may create, assign, delete or commit to a protected reference.
// Nessie's own CEL rules (nessie.server.authorization.rules.*) live in its Quarkus server, which
// this launcher cannot host; this checker plugs into the same AccessChecker SPI those rules use.
// Prints "NESSIE_URI=http://host:port/api/v2" once it serves (port 0: the OS picks a free one).
// Stops on SIGTERM, and with --exit-on-eof true also when its stdin closes, so a test run that
// dies without cleaning up does not leave a server behind.
package branchops.ci;

import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerRequestFilter;
import jakarta.ws.rs.container.ContainerResponseContext;
import jakarta.ws.rs.container.ContainerResponseFilter;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.SecurityContext;
import java.net.URI;
import java.security.Principal;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
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
import org.projectnessie.services.authz.AccessContext;
import org.projectnessie.services.authz.BatchAccessChecker;
import org.projectnessie.services.authz.Check;
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
    Set<String> protectedRefs = new TreeSet<>();
    Set<String> writers = new TreeSet<>();
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--host" -> host = args[i + 1];
        case "--port" -> port = Integer.parseInt(args[i + 1]);
        case "--exit-on-eof" -> exitOnEof = Boolean.parseBoolean(args[i + 1]);
        case "--protected" -> protectedRefs.addAll(Arrays.asList(args[i + 1].split(",")));
        case "--protected-writers" -> writers.addAll(Arrays.asList(args[i + 1].split(",")));
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    boolean auth = !protectedRefs.isEmpty();
    Map<String, String> principalByToken = new HashMap<>();
    if (auth) {
      String spec = System.getenv().getOrDefault("NESSIE_AUTH_TOKENS", "");
      for (String pair : spec.split(",")) {
        int eq = pair.indexOf('=');
        if (eq > 0) {
          principalByToken.put(pair.substring(eq + 1), pair.substring(0, eq));
        }
      }
    }

    InmemoryBackend backend = new InmemoryBackend();
    Persist persist = backend.createFactory().newPersist(StoreConfig.Adjustable.empty());
    Logics.repositoryLogic(persist).initialize("main");

    Weld weld = new Weld();
    weld.addPackages(true, RestConfigResource.class);
    weld.addPackages(true, TreeApiImpl.class);
    weld.addExtension(new ContextPrincipalExtension(BearerAuth.CURRENT::get));
    weld.addExtension(new ServerConfigExtension());
    weld.addExtension(VersionStoreImplExtension.forPersist(() -> persist));
    weld.addExtension(
        new AuthorizerExtension()
            .setAccessCheckerSupplier(
                ctx -> auth
                    ? new ProtectedRefsChecker(ctx, protectedRefs, writers)
                    : AbstractBatchAccessChecker.NOOP_ACCESS_CHECKER));
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

    if (auth) {
      config.register(new BearerAuth(principalByToken), 1000);
    }

    URI base = URI.create("http://" + host + ":" + port + "/");
    HttpServer server = GrizzlyHttpServerFactory.createHttpServer(base, config, false);
    NetworkListener listener = server.getListeners().iterator().next();
    // Never close a kept-alive connection first. Grizzly's defaults (30 s idle, 256 requests per
    // connection) race with a client reusing a pooled connection: a POST sent on a connection the
    // server is closing fails with "Failed to execute POST request" (a GET is retried by the
    // client, a POST is not). Clients close their idle connections themselves.
    listener.getKeepAlive().setIdleTimeoutInSeconds(-1);
    listener.getKeepAlive().setMaxRequestsCount(-1);
    server.start();
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

  /** Maps "Authorization: Bearer <token>" to a principal for the request's thread; 401 otherwise. */
  static final class BearerAuth implements ContainerRequestFilter, ContainerResponseFilter {
    static final ThreadLocal<SecurityContext> CURRENT = new ThreadLocal<>();
    private final Map<String, String> principalByToken;

    BearerAuth(Map<String, String> principalByToken) {
      this.principalByToken = principalByToken;
    }

    @Override
    public void filter(ContainerRequestContext request) {
      String header = request.getHeaderString("Authorization");
      String token = header != null && header.startsWith("Bearer ") ? header.substring(7).trim() : null;
      String name = token == null ? null : principalByToken.get(token);
      if (name == null) {
        request.abortWith(Response.status(401).type("application/json")
            .entity("{\"status\":401,\"reason\":\"Unauthorized\",\"message\":\"missing or unknown bearer token\","
                + "\"errorCode\":\"UNKNOWN\"}").build());
        return;
      }
      Principal principal = () -> name;
      CURRENT.set(new SecurityContext() {
        @Override public Principal getUserPrincipal() { return principal; }
        @Override public boolean isUserInRole(String role) { return false; }
        @Override public boolean isSecure() { return false; }
        @Override public String getAuthenticationScheme() { return "Bearer"; }
      });
    }

    @Override
    public void filter(ContainerRequestContext request, ContainerResponseContext response) {
      CURRENT.remove();
    }
  }

  /** Only the writers may change a protected reference; everything else is allowed. */
  static final class ProtectedRefsChecker extends AbstractBatchAccessChecker {
    private final AccessContext context;
    private final Set<String> protectedRefs;
    private final Set<String> writers;

    ProtectedRefsChecker(AccessContext context, Set<String> protectedRefs, Set<String> writers) {
      this.context = context;
      this.protectedRefs = protectedRefs;
      this.writers = writers;
    }

    @Override
    public Map<Check, String> check() {
      Principal user = context.user();
      String who = user == null ? "" : user.getName();
      Map<Check, String> failed = new LinkedHashMap<>();
      for (Check check : getChecks()) {
        boolean writes = switch (check.type()) {
          case CREATE_REFERENCE, ASSIGN_REFERENCE_TO_HASH, DELETE_REFERENCE,
              COMMIT_CHANGE_AGAINST_REFERENCE, CREATE_ENTITY, UPDATE_ENTITY, DELETE_ENTITY -> true;
          default -> false;
        };
        if (writes && check.ref() != null && protectedRefs.contains(check.ref().getName())
            && !writers.contains(who)) {
          failed.put(check, check.type() + " on protected reference '" + check.ref().getName()
              + "' is not allowed for principal '" + who + "' (allowed: " + writers + ")");
        }
      }
      return failed;
    }
  }
}
