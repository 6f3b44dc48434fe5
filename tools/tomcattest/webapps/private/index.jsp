<%@ page contentType="text/plain; charset=UTF-8" session="false" trimDirectiveWhitespaces="true" %>
<% out.print("PRIVATE CONTEXT\n"); %>
