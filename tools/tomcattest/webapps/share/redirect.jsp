<%@ page contentType="text/plain; charset=UTF-8" session="false" trimDirectiveWhitespaces="true" %>
<%
  // The Context has useRelativeRedirects="false", so Tomcat turns this into an
  // absolute URL built from the request's scheme, server name and port.
  response.sendRedirect("echo.jsp");
%>
