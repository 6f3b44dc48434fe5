<%@ page contentType="text/plain; charset=UTF-8" session="false" trimDirectiveWhitespaces="true" %>
<%!
  // Loaded at start-up (load-on-startup): sleeps for the number of
  // milliseconds in CATALINA_BASE/conf/tomcattest-startup-delay-ms.
  public void jspInit() {
    java.nio.file.Path p = java.nio.file.Paths.get(System.getProperty("catalina.base"), "conf", "tomcattest-startup-delay-ms");
    if (!java.nio.file.Files.exists(p)) {
      return;
    }
    try {
      long ms = Long.parseLong(new String(java.nio.file.Files.readAllBytes(p), "UTF-8").trim());
      getServletConfig().getServletContext().log("tomcattest: slow start, deploying takes " + ms + " ms");
      Thread.sleep(ms);
    } catch (Exception e) {
      getServletConfig().getServletContext().log("tomcattest: slow start: " + e);
    }
  }
%>
slow-init
