<%@ page contentType="text/plain; charset=UTF-8" session="false" trimDirectiveWhitespaces="true"
    import="jakarta.websocket.Endpoint,jakarta.websocket.EndpointConfig,jakarta.websocket.MessageHandler,jakarta.websocket.Session,jakarta.websocket.server.ServerContainer,jakarta.websocket.server.ServerEndpointConfig" %>
<%!
  // A WebSocket echo endpoint: answers each text message with
  // "<node>|<message>", so a test sees which node holds the socket.
  public static class Echo extends Endpoint {
    @Override
    public void onOpen(final Session s, EndpointConfig config) {
      s.addMessageHandler(new MessageHandler.Whole<String>() {
        @Override
        public void onMessage(String msg) {
          try {
            s.getBasicRemote().sendText(System.getProperty("tomcattest.node") + "|" + msg);
          } catch (java.io.IOException e) {
            // the client went away
          }
        }
      });
    }
  }
%>
<%
  // ws.jsp: registers the echo endpoint at /ws/echo on this node (once; the
  // webapp has no classes of its own, so it cannot be annotated) and names
  // the node. 500 when Tomcat's WebSocket container is not there.
  synchronized (application) {
    if (application.getAttribute("tomcattest.ws") == null) {
      ServerContainer sc = (ServerContainer) application.getAttribute("jakarta.websocket.server.ServerContainer");
      if (sc == null) {
        response.setStatus(500);
        out.print("no WebSocket container on " + System.getProperty("tomcattest.node"));
        return;
      }
      sc.addEndpoint(ServerEndpointConfig.Builder.create(Echo.class, "/ws/echo").build());
      application.setAttribute("tomcattest.ws", Boolean.TRUE);
    }
  }
  out.print("ws " + System.getProperty("tomcattest.node"));
%>
